"""The daemon's ears: the bus listeners (or an in-memory bus for the demo and the chaos rig) feeding the BusWatch.

Every message is counted in the metrics, names the resources the next cheap read looks at, and goes to the
BusWatch (heartbeats, notifications that wake a pass). A reconnection after the first connection forces a full read:
what was sent while away is lost. The Dump plugin's listener logs what crosses its exchange at DEBUG.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from rpcdaemon.adapters.bus.dump import format_line
from rpcdaemon.adapters.bus.envelope import BusMessage, Malformed, decode
from rpcdaemon.adapters.bus.listener import BusListener
from rpcdaemon.adapters.bus.named import NamedResources
from rpcdaemon.adapters.bus.tls import broker_tls
from rpcdaemon.adapters.bus.watch import BusWatch
from rpcdaemon.adapters.status.metrics import BUS_KINDS, Metrics
from rpcdaemon.config.bus_url import broker_urls
from rpcdaemon.config.settings import Settings
from rpcdaemon.model import BusKind


class BusFeed:
    def __init__(self, member: str, watch: BusWatch, named: NamedResources, metrics: Metrics,
                 force_full: Callable[[str], None]) -> None:
        self._member = member
        self.watch = watch
        self._named = named
        self._metrics = metrics
        self._force_full = force_full
        self.listeners: list[BusListener] = []
        self._connected_before = False

    def deliver(self, message: BusMessage) -> None:
        self._metrics.bus_messages.labels(message.kind if message.kind in BUS_KINDS else BusKind.OTHER).inc()
        self._named.note(message)
        self.watch.on_message(message)

    def start(self, settings: Settings) -> None:
        """Listen to the bus when rpchost is set. ValueError: the broker URLs cannot be used."""
        if not settings.rpchost:
            return
        urls = broker_urls(settings.rpchost)
        expire = min(settings.l3.queue_expire_s, settings.dhcp.queue_expire_s)

        def on_connected() -> None:
            if self._connected_before:  # the first connection comes with the start-up full read
                self._force_full("the bus reconnected: what was sent meanwhile is lost")
            self._connected_before = True
            self.watch.connected()

        def on_malformed(kind: str, _why: str) -> None:
            self._metrics.bus_malformed.labels(kind).inc()

        tls = broker_tls(urls, settings.rpc_ssl)
        listener = BusListener(urls, f"rpcdaemon-{self._member}", self.deliver, on_malformed=on_malformed,
                               on_connected=on_connected, on_disconnected=self.watch.disconnected,
                               queue_expire_s=expire, ssl=tls)
        self.listeners.append(listener.start())
        if "Dump" in settings.plugins:
            dump_log = logging.getLogger("rpcdaemon.dump")
            dump_log.setLevel(settings.dump.loglevel)
            self.listeners.append(BusListener(
                urls, f"rpcdaemon-{self._member}-dump", lambda m: dump_log.debug("%s", format_line(m)),
                bindings={"#": "dump"}, exchange=settings.dump.queue, queue_expire_s=expire, ssl=tls,
            ).start())

    def in_memory(self) -> Callable[[str, str], None]:
        """A bus in the same process: publish(routing_key, body) reaches the daemon as the broker would."""
        self.watch.connected()

        def publish(routing_key: str, body: str) -> None:
            try:
                message = decode(body, routing_key)
            except Malformed as exc:
                self._metrics.bus_malformed.labels(exc.kind).inc()
                return
            self.deliver(message)

        return publish

    def stop(self) -> None:
        for listener in self.listeners:
            listener.stop()
        self.listeners.clear()
