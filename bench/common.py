"""What the benchmarks share: an emulator in a subprocess, and rpcdaemon's real shell pointed at it."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from rpcdaemon.adapters.audit import AuditLog
from rpcdaemon.adapters.neutron.client import NeutronClient
from rpcdaemon.config.settings import Settings, default_settings
from rpcdaemon.core.liveness import state_from_api
from rpcdaemon.core.plan import CoreState
from rpcdaemon.daemon.executor import Executor
from rpcdaemon.daemon.loop import Daemon
from rpcdaemon.daemon.observer import NOBODY
from rpcdaemon.daemon.reconciler import Reconciler
from rpcdaemon.emulator.bus import HeartbeatPump, notification_body

HERE = Path(__file__).parent


@contextmanager
def emulator(spec: dict[str, Any]) -> Iterator[str]:
    proc = subprocess.Popen([sys.executable, str(HERE / "emulator_proc.py"), json.dumps(spec)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1"):
            raise RuntimeError(f"emulator did not start: {url!r}")
        yield url
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def control(url: str, method: str, path: str) -> Any:
    request = urllib.request.Request(url + path, method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read()
    return json.loads(body) if body else None


def settings_for(url: str, **overrides: Any) -> Settings:
    return replace(default_settings(), neutron_endpoint=url, audit_log=None, **overrides)


def reconciler_for(settings: Settings, *, observed: bool = True) -> Reconciler:
    """The daemon's reconciler; `observed` seeds liveness as if the daemon had watched for a dead period."""
    client = NeutronClient.connect(endpoint=settings.neutron_endpoint, timeout_s=30,
                                   read_concurrency=min(settings.max_concurrency, 16))
    executor = Executor(client.apply_call, AuditLog(keep=10), max_concurrency=settings.max_concurrency,
                        retries=settings.api_retries)
    reconciler = Reconciler(client, executor, settings.policy())
    if observed:
        agents = client.fetch_agents()
        reconciler.state = CoreState(liveness=state_from_api(agents, time.monotonic(), reconciler.policy))
    return reconciler


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


@contextmanager
def daemon_thread(cloud: Any, settings: Settings, observer: Any = None, bus: bool = True) -> Iterator[Any]:
    """The real daemon loop (daemon/loop.py) in a thread against an in-process emulated cloud, its heartbeats and
    notifications on the in-memory bus as `rpcdaemon demo` has them (bus=False: the poll-only daemon); stopped,
    with its pump, on the way out."""
    daemon = Daemon(settings, observer=observer or NOBODY)
    pump = None
    if bus:
        publish = daemon.in_memory_bus()
        pump = HeartbeatPump(cloud, publish).start()
        cloud.notify = lambda event, payload: publish("notifications.info", notification_body(event, payload))
    runner = threading.Thread(target=daemon.run, name="daemon", daemon=True)
    runner.start()
    try:
        yield daemon
    finally:
        daemon.stop()
        runner.join(timeout=60)
        if pump is not None:
            pump.stop()

