"""rpcdaemon with real Keystone tokens: a clouds.yaml cloud (password, application credential) finds Neutron in the
catalog, reads the agents and repairs a dead L3 agent; a user without the admin role is refused in one clear line;
a daemon keeps working across its tokens' expiry.

Every assertion about the cloud reads Neutron's own API (as the admin, with a token), never rpcdaemon's word.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from testbed import steady

from keystone import (
    ADMIN_PASSWORD,
    MEMBER_PASSWORD,
    NEUTRON_PASSWORD,
    CloudRpcdaemon,
    KeystoneTestbed,
    clean_env,
    write_clouds,
)
from polling import poll
from servers import spawn

pytestmark = [pytest.mark.keystone, pytest.mark.timeout(900)]
LIFETIME_S = 15  # Keystone's [token] expiration for the expiry test (it allows any value >= 0)
AGENTS = 9  # three L3, three DHCP, three Open vSwitch agents (the testbed's Topology)


def password_cloud(bed: KeystoneTestbed, folder: Path, user: str = "admin", password: str = ADMIN_PASSWORD,
                   project: str = "admin") -> Path:
    assert bed.keystone is not None
    return write_clouds(folder / "clouds.yaml", "ks", "password", {
        "auth_url": bed.keystone.auth_url, "username": user, "password": password, "project_name": project,
        "user_domain_name": "Default", "project_domain_name": "Default"})


def test_a_password_cloud_plans_and_repairs_a_dead_l3_agent(ks_bed: KeystoneTestbed, tmp_path: Path) -> None:
    bed = ks_bed
    rpcd = CloudRpcdaemon(bed, tmp_path, "ks", password_cloud(bed, tmp_path))
    planned = rpcd.plan()
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert planned.stdout.startswith(f"{AGENTS} agents (0 dead)"), planned.stdout
    assert f"{len(bed.routers)} routers" in planned.stdout.splitlines()[0]
    try:
        rpcd.start()
        steady(bed, rpcd)
        l3 = bed.agents_of("l3")
        victim = max(l3, key=lambda a: len(bed.routers_on(a.id)))
        routers = bed.routers_on(victim.id)
        assert routers
        live = {a.id for a in l3 if a is not victim}
        victim.pause()

        def moved() -> bool:
            return all(len(hosts) == 1 and hosts <= live for hosts in (bed.l3_agents_of(r) for r in routers))

        poll(moved, 90, "every router of the dead L3 agent hosted by exactly one live agent", interval_s=0.5)
        moves = {r["resource_id"] for r in rpcd.actions()
                 if r["action"] == "move_router" and r["from_agent"] == victim.id}
        assert routers <= moves
    finally:
        bed.resume_all()
        rpcd.stop()


def test_an_application_credential_cloud_plans(ks_bed: KeystoneTestbed, tmp_path: Path) -> None:
    bed = ks_bed
    assert bed.keystone is not None
    cred_id, secret = bed.keystone.application_credential(f"rpcdaemon-{tmp_path.name}")
    clouds = write_clouds(tmp_path / "clouds.yaml", "ks-appcred", "v3applicationcredential", {
        "auth_url": bed.keystone.auth_url, "application_credential_id": cred_id,
        "application_credential_secret": secret})
    rpcd = CloudRpcdaemon(bed, tmp_path, "ks-appcred", clouds)
    planned = rpcd.plan()
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert planned.stdout.startswith(f"{AGENTS} agents (0 dead)"), planned.stdout
    assert secret not in planned.stdout + planned.stderr


def run_daemon_until_exit(rpcd: CloudRpcdaemon, deadline_s: float) -> tuple[int | None, str]:
    """`rpcdaemon -d -c FILE` until it exits, for at most `deadline_s` (then stopped by PID): (its exit code, None
    when it was still running, and what it printed)."""
    proc = spawn("rpcdaemon", [sys.executable, "-m", "rpcdaemon.cli.main", "-d", "-c", str(rpcd.conf)], rpcd.log,
                 rpcd.env)
    try:
        code: int | None = proc.popen.wait(timeout=deadline_s)
    except subprocess.TimeoutExpired:
        code = None
    finally:
        proc.stop(30)
    return code, rpcd.log.read_text(errors="replace")


@pytest.mark.parametrize("style", ["original admin_* keys", "[keystone_authtoken]"])
def test_a_conffiles_credentials_plan(ks_bed: KeystoneTestbed, tmp_path: Path, style: str) -> None:
    """No clouds.yaml: the original's conffile credentials (a v2.0 auth_url, used through v3) or the server's own
    [keystone_authtoken] in neutron.conf; the Neutron endpoint comes from the catalog."""
    bed = ks_bed
    assert bed.keystone is not None
    if style == "[keystone_authtoken]":
        conffile = bed.etc / "neutron.conf"  # the neutron service user, admin in project service
    else:
        conffile = tmp_path / "l3_agent.ini"
        conffile.write_text(f"[DEFAULT]\nagent_down_time = {bed.topology.agent_down_time}\nadmin_user = admin\n"
                            f"admin_password = {ADMIN_PASSWORD}\nadmin_tenant_name = admin\n"
                            f"auth_url = {bed.keystone.url}/v2.0\n[AGENT]\nroot_helper = sudo\n")
    conf = tmp_path / "rpcdaemon.conf"
    conf.write_text(f"[Daemon]\nplugins = L3Agent,DHCPAgent\nstatus_listen =\n[L3Agent]\nconffile = {conffile}\n"
                    f"[DHCPAgent]\nconffile = {conffile}\n")
    env = clean_env(tmp_path / "no-clouds.yaml")
    checked = subprocess.run([sys.executable, "-m", "rpcdaemon.cli.main", "check-config", "--online", "-c", str(conf)],
                             capture_output=True, text=True, check=False, timeout=120, env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Neutron through Keystone password of" in checked.stdout and str(conffile) in checked.stdout
    assert "the admin role is effective" in checked.stdout, checked.stdout
    planned = subprocess.run([sys.executable, "-m", "rpcdaemon.cli.main", "plan", "-c", str(conf)],
                             capture_output=True, text=True, check=False, timeout=120, env=env)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert planned.stdout.startswith(f"{AGENTS} agents (0 dead)"), planned.stdout
    for secret in (ADMIN_PASSWORD, NEUTRON_PASSWORD):
        assert secret not in checked.stdout + checked.stderr + planned.stdout + planned.stderr


def test_a_user_without_the_admin_role_is_refused_in_one_line(ks_bed: KeystoneTestbed, tmp_path: Path) -> None:
    rpcd = CloudRpcdaemon(ks_bed, tmp_path, "ks", password_cloud(ks_bed, tmp_path, "demo", MEMBER_PASSWORD, "demo"))
    planned = rpcd.plan()
    # Neutron 29 answers a member's GET /v2.0/agents 200 with an empty list (filtered by policy), not 403: the
    # probe then looks at the token's roles
    online = rpcd.run("check-config", "--online", "-c", str(rpcd.conf))
    code, printed = run_daemon_until_exit(rpcd, 20)
    record = (f"plan: exit {planned.returncode}\n--- stdout:\n{planned.stdout}--- stderr:\n{planned.stderr}"
              f"check-config --online: exit {online.returncode}\n--- stdout:\n{online.stdout}--- stderr:\n"
              f"{online.stderr}daemon -d: exit {code}\n--- output:\n{printed}")
    print(record)
    assert online.returncode == 1 and "lack the admin role" in online.stdout, record
    assert code == 1 and "lack the admin role" in printed, record
    assert "Traceback" not in planned.stderr + online.stdout + online.stderr + printed, record
    assert MEMBER_PASSWORD not in planned.stdout + planned.stderr + online.stdout + printed, record
    assert planned.returncode != 0, record


def test_a_daemon_keeps_passing_across_its_tokens_expiry(ks_bed: KeystoneTestbed, tmp_path: Path) -> None:
    bed = ks_bed
    ks = bed.keystone
    assert ks is not None
    ks.restart(expiration_s=LIFETIME_S)
    probe = ks.token("admin", ADMIN_PASSWORD, "admin")
    assert probe.expires - time.time() <= LIFETIME_S + 1, probe.body["token"]["expires_at"]
    rpcd = CloudRpcdaemon(bed, tmp_path, "ks", password_cloud(bed, tmp_path))
    try:
        rpcd.start()
        began, issued = time.monotonic(), ks.token_requests()
        first = rpcd.status()["passes"]
        # passes go on past the lifetime of every token the daemon held when it started, with a margin
        poll(lambda: time.monotonic() - began > LIFETIME_S + 15 and rpcd.status()["passes"] >= first + 5,
             LIFETIME_S + 90, "passes after the daemon's first tokens expired", interval_s=1)
        status = rpcd.status()
        errors = rpcd.metric("rpcdaemon_passes_total", outcome="error")
        ok = rpcd.metric("rpcdaemon_passes_total", outcome="ok")
        issued = ks.token_requests() - issued
        record = (f"passes {first} -> {status['passes']} ({ok:.0f} ok, {errors:.0f} error), last pass "
                  f"{status['last_pass']}, tokens Keystone issued meanwhile {issued}")
        print(record)
        assert ok >= first + 5, record  # the metric read is the right one
        assert errors <= 1, record
        assert issued >= 2, record  # the daemon did authenticate again
        assert status["last_pass"]["outcome"] == "ok", record
    finally:
        rpcd.stop()
        ks.restart(expiration_s=3600)
