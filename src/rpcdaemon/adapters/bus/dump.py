"""`rpcdaemon dump`: what crosses the bus, one readable line a message, secrets redacted.

For troubleshooting ("does rpcdaemon hear the agents? which host stopped reporting?"). It binds a private,
auto-delete queue of its own to the exchange (default `neutron`, the original's [Dump] queue) with the routing keys
asked for (default `#`: everything), so it takes nothing from anyone. Filters are globs on decoded fields; user
input is only ever matched, never evaluated. Every line goes through rpcdaemon's one redaction once more on its way
out, and text lines have their control characters escaped: a host name is whatever a message says, and a terminal
must never receive an escape sequence from the bus.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from datetime import datetime
from types import FrameType

from rpcdaemon.adapters.bus.envelope import BusMessage
from rpcdaemon.config.settings import DEFAULT_CONFIG
from rpcdaemon.model import BusKind
from rpcdaemon.redaction import escape_controls, redact, redact_text

FIELDS = ("routing_key", "method", "event_type", "host", "agent_type", "kind", "resource_id", "resource_type")


def summary(msg: BusMessage) -> str:
    if msg.kind == BusKind.HEARTBEAT:
        return f"{msg.agent_type} {msg.binary or ''}".strip() + (" start_flag" if msg.start_flag else "")
    if msg.kind == BusKind.NOTIFICATION:
        parts = [msg.resource_type or "", (msg.resource_id or "")[:8]]
        if msg.revision_number is not None:
            parts.append(f"rev {msg.revision_number}")
        return " ".join(p for p in parts if p)
    if msg.kind == BusKind.RPC:
        return "args: " + ", ".join(sorted(msg.payload))[:80]
    return ", ".join(sorted(msg.payload))[:80]


def format_line(msg: BusMessage, received_at: datetime | None = None) -> str:
    when = (received_at or datetime.now().astimezone()).isoformat(timespec="milliseconds")
    what = msg.method or msg.event_type or msg.kind
    return escape_controls(redact_text(f"{when} {msg.routing_key} {what} host={msg.host or '-'} {summary(msg)}"))


def format_json(msg: BusMessage) -> str:
    """One JSON object: the decoded message, redacted again (decoding already did: this is the exit), and ASCII
    only, so control characters arrive as \\u escapes."""
    return redact_text(json.dumps(redact(msg.as_dict()), sort_keys=True, default=str, ensure_ascii=True))


def parse_matches(items: Sequence[str]) -> list[tuple[str, str]]:
    result = []
    for item in items:
        name, sep, pattern = item.partition("=")
        if not sep or name not in FIELDS:
            raise ValueError(f"--match {item!r}: expected FIELD=GLOB with FIELD one of {', '.join(FIELDS)}")
        result.append((name, pattern))
    return result


def matches(msg: BusMessage, filters: list[tuple[str, str]]) -> bool:
    return all(fnmatch.fnmatchcase(str(getattr(msg, name) or ""), pattern) for name, pattern in filters)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="rpcdaemon dump", description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("-c", dest="config", default=None, help=f"rpcdaemon.conf (default {DEFAULT_CONFIG})")
    parser.add_argument("--url", default=None, help="broker URL or host (overrides [Daemon] rpchost)")
    parser.add_argument("--queue", default=None, help="exchange to dump (default: [Dump] queue, else neutron)")
    parser.add_argument("--key", action="append", default=[], help="routing key to bind (repeatable; default #)")
    parser.add_argument("--match", action="append", default=[], help="FIELD=GLOB filter (repeatable)")
    parser.add_argument("--json", action="store_true", help="one redacted JSON object per message")
    parser.add_argument("--count", type=int, default=0, help="stop after N messages")
    opts = parser.parse_args(argv)

    from rpcdaemon.adapters.bus.listener import BusListener
    from rpcdaemon.adapters.bus.tls import broker_tls
    from rpcdaemon.config.bus_url import BusUrlError, broker_urls
    from rpcdaemon.config.load import load_settings
    from rpcdaemon.config.settings import ConfigError

    rpchost, exchange, tls_files = opts.url or "", opts.queue, {}
    if opts.config or not opts.url:
        try:
            settings = load_settings(opts.config or DEFAULT_CONFIG)
        except ConfigError as exc:
            print(str(exc), file=sys.stderr)
            return 2
        rpchost = opts.url or settings.rpchost
        exchange = exchange or settings.dump.queue
        tls_files = settings.rpc_ssl  # the daemon's own TLS to the broker (bus/tls.py)
    try:
        filters = parse_matches(opts.match)
        urls = broker_urls(rpchost)
    except (ValueError, BusUrlError) as exc:
        print(escape_controls(redact_text(f"rpcdaemon dump: {exc}")), file=sys.stderr)
        return 2
    if not urls:
        print("rpcdaemon dump: no broker: give --url or set [Daemon] rpchost", file=sys.stderr)
        return 2

    done = threading.Event()
    lock = threading.Lock()
    printed = 0

    def on_message(msg: BusMessage) -> None:
        nonlocal printed
        if not matches(msg, filters):
            return
        with lock:
            if done.is_set():
                return
            print(format_json(msg) if opts.json else format_line(msg), flush=True)
            printed += 1
            if opts.count and printed >= opts.count:
                done.set()

    def on_malformed(kind: str, why: str) -> None:
        with lock:
            print(escape_controls(redact_text(f"MALFORMED {kind}: {why}")), flush=True)

    keys = opts.key or ["#"]
    listener = BusListener(urls, f"rpcdaemon-dump-{socket.gethostname()}-{os.getpid()}", on_message,
                           on_malformed=on_malformed, bindings={k: f"k{i}" for i, k in enumerate(keys)},
                           exchange=exchange or "neutron", queue_expire_s=60, ssl=broker_tls(urls, tls_files))

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        done.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
    listener.start()
    for _ in range(100):  # about 10 s to reach the broker the first time
        if listener.connected or done.wait(0.1):
            break
    if not listener.connected and not done.is_set():
        listener.stop()
        print(f"rpcdaemon dump: cannot reach the broker at {redact_text(urls[0])}", file=sys.stderr)
        return 1
    print(f"# dumping exchange {exchange or 'neutron'} keys {' '.join(keys)}", file=sys.stderr, flush=True)
    done.wait()
    listener.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
