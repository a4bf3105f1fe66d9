"""`rpcdaemon status`: a running daemon's /status as a readable table (or the raw JSON).

What it prints comes from the network (host names, reasons, errors quoting Neutron): it is redacted once more and
its control characters escaped, so that a terminal never receives an escape sequence from a cloud's data.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from rpcdaemon.redaction import escape_controls, redact, redact_text

DEFAULT_URL = "http://127.0.0.1:8787"


def fetch_status(url: str, token: str | None, timeout_s: float = 10.0) -> dict[str, Any]:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url}")
    request = urllib.request.Request(url.rstrip("/") + "/status")  # noqa: S310 - scheme checked above
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - an operator-given URL
        body: dict[str, Any] = json.loads(response.read())
    return body


def render(status: dict[str, Any]) -> str:
    lines = [
        f"rpcdaemon {status['version']}  member {status['member']} ({status['role']})"
        + ("  DRY RUN" if status.get("dry_run") else ""),
        "members: " + ", ".join(f"{m['id']} ({m['role']})" for m in status.get("members", []))
        + (f"; leader {status['leader']}" if status.get("leader") else "; no leader known")
        + ("" if status.get("acting", True) else "; this replica is not acting"),
    ]
    last = status.get("last_pass")
    if last:
        lines.append(f"last pass: {last['outcome']} in {last['duration_s']:.2f}s"
                     + (f" ({last['error']})" if last.get("error") else ""))
    if status.get("warming_up"):
        lines.append("WARMING UP: no agent can be judged dead yet")
    for zone in status.get("zones", []):
        if zone["disrupted"]:
            lines.append(f"DISRUPTION: {zone['agent_type']}/{zone['zone']}: {zone['dead']} of {zone['total']} "
                         "dead, evacuation held")
    lines.append("")
    lines.append(f"{'TYPE':<11} {'HOST':<20} {'ZONE':<8} {'STATE':<11} {'API':<5} {'LOAD':>5}  REASON")
    for a in status.get("agents", []):
        state = a["verdict"] + ("" if a["admin_state_up"] else "/admin-down")
        lines.append(f"{a['agent_type']:<11} {a['host']:<20} {a['availability_zone'] or '-':<8} {state:<11} "
                     f"{'up' if a['api_alive'] else 'down':<5} {a['load']:>5}  {a['reason']}")
    for note in status.get("notes", []):
        lines.append(f"HOLD: {note}")
    actions = status.get("recent_actions", [])
    lines.append("")
    lines.append(f"recent actions ({len(actions)}):")
    for r in actions[-15:]:
        lines.append(f"  {r['time']} {r['action']:<18} {r['resource_type']} {r['resource_id'][:8]} "
                     f"{r['from_host'] or '-'} -> {r['to_host'] or '-'}  {r['outcome']}")
    return "\n".join(escape_controls(redact_text(line)) for line in lines)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="rpcdaemon status", description=__doc__)
    parser.add_argument("--url", default=DEFAULT_URL, help=f"the daemon's status_listen (default {DEFAULT_URL})")
    parser.add_argument("--token", default=None, help="bearer token, when status_token is set")
    parser.add_argument("--json", action="store_true")
    opts = parser.parse_args(argv)
    try:
        status = fetch_status(opts.url, opts.token)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(escape_controls(redact_text(f"rpcdaemon status: cannot read {opts.url}/status: {exc}")),
              file=sys.stderr)
        return 1
    print(json.dumps(redact(status), indent=2) if opts.json else render(status))
    return 0
