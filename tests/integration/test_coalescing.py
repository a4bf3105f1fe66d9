"""A burst of bus events is one or two passes, not one pass per event (issue 11, item 10).

Before wake-ups were coalesced, 100 notifications in 10 s gave 100 passes and 1,000 GETs, and rpcdaemon's own
changes cause notifications. Now a pass in flight, one pending, and pass starts at least `min_pass_interval`
apart.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import replace

from polling import poll
from rpcdaemon.config.settings import default_settings
from rpcdaemon.daemon.loop import Daemon
from rpcdaemon.emulator.bus import envelope
from rpcdaemon.emulator.cloud import Cloud
from rpcdaemon.emulator.server import serve


def notification(net_id: str, revision: int) -> str:
    return envelope({"message_id": str(uuid.uuid4()), "publisher_id": "network.controller-1",
                     "event_type": "network.update.end", "priority": "INFO",
                     "payload": {"network": {"id": net_id, "revision_number": revision}},
                     "timestamp": "2026-01-01T00:00:00"})


def test_a_burst_of_notifications_is_coalesced() -> None:
    cloud = Cloud.build(l3_agents=2, routers=2, dhcp_agents=2, networks=4, agent_down_time=75, seed=3)
    with serve(cloud) as server:
        settings = replace(default_settings(), neutron_endpoint=server.url, status_listen=("", 0),
                           check_interval_s=30.0, min_pass_interval_s=1.0, agent_down_time_s=75.0)
        daemon = Daemon(settings, member="coalesce")
        publish = daemon.in_memory_bus()
        thread = threading.Thread(target=daemon.run, daemon=True)
        thread.start()
        try:
            poll(lambda: daemon.passes >= 1, 30, "the first pass")
            before, started = daemon.passes, time.monotonic()
            for i in range(100):  # 100 notifications over about 2 s
                publish("notifications.info", notification(f"net-{i % 7}", i))
                time.sleep(0.02)
            burst_s = time.monotonic() - started
            poll(lambda: not daemon._wake.is_set(), 10, "the pending pass ran")
            passes = daemon.passes - before
            # one pass in flight, one pending, starts at least 1 s apart: at most burst/1 s + 2
            assert 1 <= passes <= burst_s / settings.min_pass_interval_s + 2, (passes, burst_s)
            metrics = daemon.metrics.render().decode()
            assert "rpcdaemon_passes_per_second" in metrics
            assert "rpcdaemon_wakeups_total 10" in metrics
            json.dumps(daemon.status_document())
        finally:
            daemon.stop()
            thread.join(30)
