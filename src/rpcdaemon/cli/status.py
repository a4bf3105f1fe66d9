"""`rpcdaemon status`: a running daemon's /status as a readable table (or the raw JSON).

What it prints comes from the network (host names, reasons, errors quoting Neutron): it is redacted once more and
its control characters escaped, so that a terminal never receives an escape sequence from a cloud's data.

Where and how to ask: `-c FILE` takes the daemon's own config (status_listen, HTTPS when status_tls_cert is set,
the token of status_token or status_token_file), so an operator types no secret at all. The token may also come
from `--token-file`, from RPCDAEMON_STATUS_TOKEN, or from `--token` (which every `ps` on the host shows): the first
of --token, --token-file, the environment, the config wins. Over HTTPS the server's certificate is verified
against --cacert, else the system's CAs and the config's status_tls_cert itself (a self-signed one).
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from rpcdaemon.cli.common import EXIT_CONFIG, load_or_say
from rpcdaemon.redaction import escape_controls, redact, redact_text

DEFAULT_URL = "http://127.0.0.1:8787"


TOKEN_ENV = "RPCDAEMON_STATUS_TOKEN"  # noqa: S105 - the name of a variable, not a token


def fetch_status(url: str, token: str | None, timeout_s: float = 10.0,
                 context: ssl.SSLContext | None = None) -> dict[str, Any]:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url}")
    request = urllib.request.Request(url.rstrip("/") + "/status")  # noqa: S310 - scheme checked above
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=timeout_s, context=context) as response:  # noqa: S310
        body: dict[str, Any] = json.loads(response.read())
    return body


def client_context(cafiles: list[str]) -> ssl.SSLContext:
    """Verification against the system's CAs and `cafiles` (a server's own certificate may be one: with
    partial chains, a certificate in the trust store is an anchor even when it is not self-signed)."""
    context = ssl.create_default_context()
    for cafile in cafiles:
        context.load_verify_locations(cafile)
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context


def _target(opts: argparse.Namespace) -> tuple[str, str | None, ssl.SSLContext | None]:
    """(URL, token, TLS context) from the options, the environment and the config. ValueError: one line."""
    from rpcdaemon.config.status_port import client_host, read_token_file

    url, token, cafiles = opts.url, opts.token, [opts.cacert] if opts.cacert else []
    if token is None and opts.token_file:
        token = read_token_file(opts.token_file)
    if token is None:
        token = os.environ.get(TOKEN_ENV) or None
    if opts.config:
        settings = load_or_say(opts.config)
        if settings is None:
            raise SystemExit(EXIT_CONFIG)
        host, port = settings.status_listen
        if not host:
            raise ValueError(f"{opts.config}: [Daemon] status_listen is empty: this daemon serves no status")
        shown = client_host(host)
        shown = f"[{shown}]" if ":" in shown else shown
        if url is None:
            url = f"{'https' if settings.status_tls else 'http'}://{shown}:{port}"
        if token is None:
            token = settings.status_token
        if settings.status_tls and not cafiles:
            cafiles = [settings.status_tls[0]]
    url = url or DEFAULT_URL
    context = client_context(cafiles) if url.startswith("https://") else None
    return url, token, context


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
        state = a["verdict"] + ("" if a["admin_state_up"] else "/admin-down") + (
            "/draining" if a.get("draining") else "")
        lines.append(f"{a['agent_type']:<11} {a['host']:<20} {a['availability_zone'] or '-':<8} {state:<11} "
                     f"{'up' if a['api_alive'] else 'down':<5} {a['load']:>5}  {a['reason']}")
    for note in status.get("notes", []):
        lines.append(f"HOLD: {note}")
    checks = status.get("verification") or {}
    for item in checks.get("unverified", []):
        lines.append(f"UNVERIFIED: {item['resource_type']} {item['resource_id']} not wired by agent {item['agent']}: "
                     "moved on")
    actions = status.get("recent_actions", [])
    lines.append("")
    lines.append(f"recent actions ({len(actions)}):")
    for r in actions[-15:]:
        lines.append(f"  {r['time']} {r['action']:<18} {r['resource_type']} {r['resource_id'][:8]} "
                     f"{r['from_host'] or '-'} -> {r['to_host'] or '-'}  {r['outcome']}")
    return "\n".join(escape_controls(redact_text(line)) for line in lines)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="rpcdaemon status", description=__doc__)
    parser.add_argument("-c", dest="config", metavar="FILE", default=None,
                        help="the daemon's rpcdaemon.conf: where it listens, HTTPS or not, and its token")
    parser.add_argument("--url", default=None, help=f"the daemon's status URL (default: from -c, else {DEFAULT_URL})")
    parser.add_argument("--token-file", metavar="FILE", default=None, help="a file whose first line is the token")
    parser.add_argument("--token", default=None,
                        help=f"bearer token (shows in ps: prefer -c, --token-file or {TOKEN_ENV})")
    parser.add_argument("--cacert", metavar="FILE", default=None, help="CA file to verify an HTTPS status port")
    parser.add_argument("--json", action="store_true")
    opts = parser.parse_args(argv)
    url = opts.url or DEFAULT_URL
    try:
        url, token, context = _target(opts)
        status = fetch_status(url, token, context=context)
    except urllib.error.HTTPError as exc:
        hint = " (a token is needed: -c FILE, --token-file or " + TOKEN_ENV + ")" if exc.code == 401 else ""
        print(escape_controls(redact_text(f"rpcdaemon status: {url}/status answered {exc.code} {exc.reason}"
                                          f"{hint}")), file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError, ValueError, ssl.SSLError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        print(escape_controls(redact_text(f"rpcdaemon status: cannot read {url}/status: {reason}")),
              file=sys.stderr)
        return 1
    print(json.dumps(redact(status), indent=2) if opts.json else render(status))
    return 0
