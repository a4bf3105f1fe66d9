"""Memory over a run, sampled: resident set size (and the Python heap with tracemalloc, when asked).

A daemon that runs for months must not grow: a chaos run compares the last third of its samples with the first
third (after warm-up), which catches a leak per pass or per fault without asserting on any absolute figure.
"""

from __future__ import annotations

import resource
import statistics
import threading
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

PAGE = 4096


def rss_bytes() -> int:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return pages * PAGE


@dataclass(frozen=True)
class MemoryFigures:
    samples: int
    first_third_mb: float
    last_third_mb: float
    peak_rss_mb: float
    heap_first_mb: float | None
    heap_last_mb: float | None
    heap_peak_mb: float | None

    def flat(self, margin_mb: float = 16.0, margin_ratio: float = 0.10) -> bool:
        """The last third no higher than the first third by more than the margins (RSS, and heap if measured)."""
        ok = self.last_third_mb <= self.first_third_mb * (1 + margin_ratio) + margin_mb
        if self.heap_first_mb is not None and self.heap_last_mb is not None:
            ok = ok and self.heap_last_mb <= self.heap_first_mb * (1 + margin_ratio) + margin_mb / 4
        return ok


class MemorySampler:
    def __init__(self, interval_s: float = 1.0, heap: bool = False) -> None:
        self._interval = interval_s
        self._heap = heap
        self._rss: list[int] = []
        self._heap_samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-memory", daemon=True)

    def start(self) -> MemorySampler:
        if self._heap and not tracemalloc.is_tracing():
            tracemalloc.start()
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._rss.append(rss_bytes())
            if self._heap:
                self._heap_samples.append(tracemalloc.get_traced_memory()[0])

    def stop(self) -> MemoryFigures:
        self._stop.set()
        self._thread.join(5)
        heap_peak = None
        if self._heap:
            heap_peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
        first, last = _thirds(self._rss)
        heap_first, heap_last = _thirds(self._heap_samples) if self._heap_samples else (None, None)
        peak = max([resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, *self._rss])
        return MemoryFigures(len(self._rss), first or 0.0, last or 0.0, peak / 2**20, heap_first, heap_last,
                             heap_peak)


def _thirds(samples: list[int]) -> tuple[float | None, float | None]:
    """Medians (MB) of the first and last thirds."""
    if len(samples) < 3:
        return None, None
    third = len(samples) // 3
    return statistics.median(samples[:third]) / 2**20, statistics.median(samples[-third:]) / 2**20
