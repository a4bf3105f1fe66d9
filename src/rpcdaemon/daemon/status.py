"""The status document: what the daemon sees and did, as one JSON-ready dict.

Shared by /status, the dashboard and `rpcdaemon status`. It is built from the last pass's report (agents, verdicts,
zones, notes) and the audit ring; it holds ids, hosts, counts and reasons, never a URL, token or password. Some of
those texts quote others (a pass's error quotes an exception, an action's detail quotes Neutron's answer), so the
whole document goes through rpcdaemon's one redaction before anyone sees it.

The document is made from one plain value, `StatusView`, that the daemon gathers (`Daemon.status_view`): this
module knows nothing of the reconciler, the cluster or the audit log, only of what they report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rpcdaemon import __version__
from rpcdaemon.daemon.report import PassReport
from rpcdaemon.redaction import redact


@dataclass(frozen=True, slots=True)
class StatusView:
    """Everything /status shows, as the daemon has it now."""

    member: str
    report: PassReport | None
    """The last pass's report (None before the first pass)."""
    reads: Mapping[str, Any]
    """How the cloud is read: the last read's kind, full reads so far, the last one's cost, the resync period."""
    cluster: Mapping[str, Any]
    """The coordination's view: role, acting, leader, members, backend, group, error."""
    ready: bool
    dry_run: bool
    passes: int
    plugins: Sequence[str]
    recent_actions: Sequence[Mapping[str, Any]]
    """The audit records of the latest changes, oldest first (at most 50)."""


def build_status(view: StatusView) -> dict[str, Any]:
    report = view.report
    agents: list[dict[str, Any]] = []
    zones: list[dict[str, Any]] = []
    notes: list[str] = []
    pending: list[dict[str, Any]] = []
    verification: dict[str, Any] = {"verified": [], "unverified": []}
    warming_up = True
    if report is not None and report.snapshot is not None and report.plan is not None:
        snap, plan = report.snapshot, report.plan
        dhcp = snap.dhcp_bindings or {}
        l3 = snap.l3_bindings or {}
        for agent in sorted(snap.agents.values(), key=lambda a: (a.agent_type, a.host)):
            verdict = plan.verdicts[agent.id]
            agents.append({
                "id": agent.id, "host": agent.host, "agent_type": agent.agent_type,
                "availability_zone": agent.availability_zone, "admin_state_up": agent.admin_state_up,
                "agent_mode": agent.agent_mode.value if agent.is_l3 else None,
                "api_alive": agent.alive, "verdict": verdict.verdict.value, "reason": verdict.reason,
                "silent_s": round(verdict.silent_s, 1), "quiet": verdict.quiet,
                "draining": agent.draining, "drain_acting": agent.id in plan.draining,
                "load": len(l3.get(agent.id, ())) if agent.is_l3 else len(dhcp.get(agent.id, ())),
            })
        zones = [
            {"agent_type": z.agent_type, "zone": z.availability_zone, "total": z.total, "dead": z.dead,
             "quiet": z.quiet, "admin_down": z.admin_down, "disrupted": z.disrupted}
            for z in plan.zones.values()
        ]
        notes = list(plan.notes)
        warming_up = plan.warming_up
        verification = {
            "verified": [{"resource_type": landing.resource_type.value, "resource_id": landing.resource_id,
                          "agent": landing.agent_id, "seconds": round(seconds, 2)}
                         for landing, seconds in plan.verified],
            "unverified": [{"resource_type": landing.resource_type.value, "resource_id": landing.resource_id,
                            "agent": landing.agent_id} for landing in plan.unverified],
        }
        pending = [r.change.as_dict() | {"outcome": r.outcome, "detail": r.detail}
                   for r in report.results if not r.ok]
    last_pass = None
    if report is not None:
        last_pass = {"time": report.started_at, "duration_s": round(report.duration_s, 3),
                     "outcome": report.outcome, "error": report.error}
    plugins = {name: {"last_pass": last_pass} for name in view.plugins if name != "Dump"}
    cluster = view.cluster
    document: dict[str, Any] = redact({
        "version": __version__,
        "member": view.member,
        "reads": dict(view.reads),
        "role": cluster["role"],
        "acting": cluster["acting"],
        "leader": cluster["leader"],
        "members": cluster["members"],
        "coordination": {k: cluster[k] for k in ("backend", "group", "error") if k in cluster},
        "ready": view.ready,
        "dry_run": view.dry_run,
        "passes": view.passes,
        "last_pass": last_pass,
        "plugins": plugins,
        "warming_up": warming_up,
        "agents": agents,
        "zones": zones,
        "disrupted": any(z["disrupted"] for z in zones),
        "notes": notes,
        "pending": pending,
        "verification": verification,
        "recent_actions": [dict(r) for r in view.recent_actions],
    })
    return document
