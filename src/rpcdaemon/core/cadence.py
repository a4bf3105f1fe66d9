"""When to look next, and when the bus counts as evidence: the rules of the loop's timing, kept pure.

The loop runs a pass every check_interval; it looks sooner when a heard agent is about to fall silent for a whole
dead period (so a death is seen at once, not at the next poll), and within `catch_up_s` while the bus already says
an agent is dead and the API has yet to agree (Neutron's server judges on its own timer, a moment later). Silence
on the bus is evidence only after the bus has been listened to for a whole dead period.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rpcdaemon.core.liveness import AgentLiveness, Verdict
from rpcdaemon.core.policy import Policy
from rpcdaemon.model import AgentId


def bus_is_evidence(listening_since: float | None, now: float, dead_after_s: float) -> bool:
    """Has the bus been listened to long enough for an agent's silence on it to mean something?"""
    return listening_since is not None and now - listening_since >= dead_after_s


def next_silence(heard_at: Iterable[float], now: float, dead_after_s: float) -> float | None:
    """When the next heard agent falls silent for a whole dead period (None: no heard agent will)."""
    pending = [t + dead_after_s for t in heard_at if t + dead_after_s > now]
    return min(pending) if pending else None


def api_lagging(verdicts: Mapping[AgentId, AgentLiveness], policy: Policy) -> bool:
    """The bus says an agent is dead (silent for a dead period) and the API still says alive, for less time than
    a disagreement is reported after: the API is about to agree, so it is worth reading again soon."""
    return any(v.verdict is Verdict.SUSPECT and v.api_alive and v.silent_s >= policy.dead_after_s
               and v.suspect_for_s < policy.disagreement_report_s for v in verdicts.values())


def next_wait(until_periodic_s: float, now: float, silence_at: float | None, lagging: bool,
              catch_up_s: float) -> float:
    """Seconds until the next pass: the periodic one, or sooner for the next silence (with a small margin, so
    that the agent is past its dead period when read) or to catch up with a lagging API."""
    remaining = until_periodic_s
    if silence_at is not None:
        remaining = min(remaining, silence_at - now + 0.05)
    if lagging:
        remaining = min(remaining, catch_up_s)
    return remaining
