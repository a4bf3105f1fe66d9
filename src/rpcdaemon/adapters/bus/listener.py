"""Listening to Neutron's bus through queues of rpcdaemon's own.

The original rpcdaemon consumed from a topic Neutron stopped using in 2016 and went blind without a word. Here:
  - only rpcdaemon's own queues are declared (auto-delete, `x-expires` from queue_expire), each bound to exchange
    `neutron` with one routing key: q-reports-plugin (heartbeats), notifications.info (notifications). A private
    queue gets a *copy* of each message; a queue of Neutron's or of telemetry is never consumed from;
  - the body is decoded by `envelope.decode` (raw bytes, never kombu's deserializers: nothing is evaluated);
  - after a broker restart or a network cut it reconnects with capped, jittered backoff, and calls `on_connected`
    every time: messages sent while it was away are gone, so the daemon resyncs from the API;
  - a failing callback is logged and counted, never the end of the listener.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from kombu import Connection, Consumer, Exchange, Queue

from rpcdaemon.adapters.bus.envelope import BusMessage, Malformed, decode
from rpcdaemon.adapters.bus.tls import for_connection
from rpcdaemon.redaction import redact_text

LOG = logging.getLogger("rpcdaemon.bus")

HEARTBEATS = "q-reports-plugin"
NOTIFICATIONS = "notifications.info"
DEFAULT_BINDINGS: Mapping[str, str] = {HEARTBEATS: "heartbeats", NOTIFICATIONS: "notifications"}


class BusListener:
    def __init__(
        self,
        urls: list[str],
        queue_prefix: str,
        on_message: Callable[[BusMessage], None],
        *,
        on_malformed: Callable[[str, str], None] | None = None,
        on_connected: Callable[[], None] | None = None,
        on_disconnected: Callable[[], None] | None = None,
        bindings: Mapping[str, str] = DEFAULT_BINDINGS,
        exchange: str = "neutron",
        queue_expire_s: float = 60.0,
        ssl: bool | dict[str, Any] = False,
        max_backoff_s: float = 10.0,
    ) -> None:
        if not urls:
            raise ValueError("no broker URL")
        self._urls = urls
        self._prefix = queue_prefix
        self._on_message = on_message
        self._on_malformed = on_malformed
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected
        self._bindings = dict(bindings)
        self._exchange = Exchange(exchange, type="topic", durable=False, auto_delete=False)
        self._expire_ms = max(1000, int(queue_expire_s * 1000))
        self._ssl = ssl
        self._max_backoff_s = max_backoff_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bus", daemon=True)
        self.connected = False
        self.connected_at: float | None = None
        self.connects = 0
        self.last_message_at: float | None = None
        self.messages: Counter[str] = Counter()
        self.malformed: Counter[str] = Counter()
        self._warned: set[str] = set()

    @property
    def queue_names(self) -> list[str]:
        return [f"{self._prefix}-{suffix}" for suffix in self._bindings.values()]

    def start(self) -> BusListener:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    def _queues(self) -> list[Queue]:
        return [
            Queue(f"{self._prefix}-{suffix}", self._exchange, routing_key=key, durable=False, auto_delete=True,
                  queue_arguments={"x-expires": self._expire_ms})
            for key, suffix in self._bindings.items()
        ]

    def _run(self) -> None:
        failures = 0
        rng = random.Random()
        while not self._stop.is_set():
            try:
                # each attempt starts with the next broker, and with its own TLS options (bus/tls.py)
                first = failures % len(self._urls)
                urls = self._urls[first:] + self._urls[:first]
                with Connection(urls, ssl=for_connection(self._ssl), connect_timeout=5, heartbeat=20,
                                transport_options={"max_retries": 1}) as conn:
                    conn.ensure_connection(max_retries=1)
                    with Consumer(conn, queues=self._queues(), on_message=self._receive, accept=[], no_ack=True):
                        self.connected = True
                        self.connected_at = time.monotonic()
                        self.connects += 1
                        failures = 0
                        LOG.info("bus connected to %s; listening on %s", redact_text(conn.as_uri()),
                                 ", ".join(self.queue_names))
                        self._call(self._on_connected)
                        while not self._stop.is_set():
                            try:
                                conn.drain_events(timeout=0.5)
                            except TimeoutError:
                                conn.heartbeat_check()
            except Exception as exc:  # any broker or network failure: reconnect, never die
                if self._stop.is_set():
                    break
                failures += 1
                delay = min(self._max_backoff_s, 0.5 * 2 ** min(failures - 1, 6)) * (0.5 + rng.random() / 2)
                level = logging.WARNING if self.connected or failures == 1 else logging.DEBUG
                LOG.log(level, "bus unavailable (%s: %s); retrying in %.1fs", type(exc).__name__,
                        redact_text(str(exc)), delay)
                self._stop.wait(delay)
            finally:
                if self.connected:
                    self._call(self._on_disconnected)
                self.connected = False
                self.connected_at = None

    def _receive(self, message: Any) -> None:
        routing_key = str(message.delivery_info.get("routing_key", ""))
        try:
            decoded = decode(message.body, routing_key)
        except Malformed as exc:
            kind, why = exc.kind, exc.why
            self.malformed[kind] += 1
            if kind not in self._warned:  # once per kind: a flood of garbage must not flood the log
                self._warned.add(kind)
                LOG.warning("malformed bus message refused (%s) on %s: %s", kind, routing_key, why)
            on_malformed = self._on_malformed
            if on_malformed is not None:
                self._call(lambda: on_malformed(kind, why))
            return
        self.messages[decoded.kind] += 1
        self.last_message_at = time.monotonic()
        self._call(lambda: self._on_message(decoded))

    @staticmethod
    def _call(callback: Callable[[], None] | None) -> None:
        if callback is None:
            return
        try:
            callback()
        except Exception:
            LOG.exception("bus callback failed")


