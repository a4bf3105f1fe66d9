"""Keystone credentials from a plugin's conffile (issue 13, point 1): the original rpcdaemon's admin_* keys and a
modern neutron.conf's [keystone_authtoken], in the order cloud, neutron_endpoint, conffile; check-config says
which is in force and never prints a password. (That they get a token from a real Keystone: tests/keystone.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from rpcdaemon.cli.check import main as check_main
from rpcdaemon.config.load import load_settings
from rpcdaemon.config.settings import ConfigError

PASSWORD = "Sup3r-s3cret"


def write(tmp_path: Path, neutron: str, daemon: str = "") -> str:
    conffile = tmp_path / "l3_agent.ini"
    conffile.write_text(neutron)
    config = tmp_path / "rpcdaemon.conf"
    config.write_text(f"[Daemon]\nplugins = L3Agent,DHCPAgent\n{daemon}[L3Agent]\nconffile = {conffile}\n"
                      f"[DHCPAgent]\nconffile = {conffile}\n")
    return str(config)


ORIGINAL = (f"[DEFAULT]\nagent_down_time = 20\nadmin_user = neutron\nadmin_password = {PASSWORD}\n"
            "admin_tenant_name = service\nauth_url = http://keystone.example:35357/v2.0\n[AGENT]\nroot_helper = x\n")
AUTHTOKEN = (f"[DEFAULT]\nagent_down_time = 20\n[keystone_authtoken]\nwww_authenticate_uri = http://k:5000\n"
             f"auth_url = http://k:5000\nauth_type = password\nusername = neutron\npassword = {PASSWORD}\n"
             "project_name = service\nuser_domain_name = Default\nproject_domain_name = Default\n"
             "region_name = RegionTwo\nmemcached_servers = 127.0.0.1:11211\n")


def test_the_originals_conffile_gives_its_credentials_through_keystone_v3(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, ORIGINAL)
    settings = load_settings(path)
    assert settings.credentials is not None
    assert settings.credentials.auth_type == "password"
    assert dict(settings.credentials.auth) == {
        "auth_url": "http://keystone.example:35357", "username": "neutron", "password": PASSWORD,
        "project_name": "service", "user_domain_id": "default", "project_domain_id": "default"}
    assert settings.agent_down_time_s == 20
    assert PASSWORD not in repr(settings)
    assert check_main(["-c", path]) == 0
    out = capsys.readouterr().out
    assert (f"Neutron through Keystone password of neutron in project service at http://keystone.example:35357 "
            f"(from {tmp_path / 'l3_agent.ini'} [AGENT] admin_user)") in out
    assert PASSWORD not in out


def test_keystone_authtoken_is_read_with_keystoneauths_options_and_wins(tmp_path: Path) -> None:
    # both in one file (the original's keys in [DEFAULT], which configparser would also show in every section)
    settings = load_settings(write(tmp_path, ORIGINAL + AUTHTOKEN.replace("[DEFAULT]\nagent_down_time = 20\n", "")))
    creds = settings.credentials
    assert creds is not None and creds.origin.endswith("[keystone_authtoken]")
    assert dict(creds.auth) == {"auth_url": "http://k:5000", "username": "neutron", "password": PASSWORD,
                                "project_name": "service", "user_domain_name": "Default",
                                "project_domain_name": "Default"}
    assert creds.region_name == "RegionTwo"
    assert "region RegionTwo" in settings.credentials_in_force and PASSWORD not in settings.credentials_in_force


def test_a_cloud_or_an_endpoint_comes_first(tmp_path: Path) -> None:
    cloud = load_settings(write(tmp_path, ORIGINAL, "cloud = mycloud\n"))
    assert cloud.credentials is None and cloud.credentials_in_force.startswith("clouds.yaml cloud 'mycloud'")
    endpoint = load_settings(write(tmp_path, ORIGINAL, "neutron_endpoint = http://127.0.0.1:9696\n"))
    assert endpoint.credentials is None and "without Keystone" in endpoint.credentials_in_force
    bare = load_settings(write(tmp_path, "[DEFAULT]\nagent_down_time = 20\n"))
    assert bare.credentials is None and bare.credentials_in_force.startswith("none configured")


@pytest.mark.parametrize(("neutron", "where"), [
    (ORIGINAL.replace(f"admin_password = {PASSWORD}\n", ""), "[AGENT] admin_password: missing: the file sets "
                                                             "admin_tenant_name, admin_user, auth_url"),
    (AUTHTOKEN.replace(f"password = {PASSWORD}\n", ""), "[keystone_authtoken] password: missing"),
    (AUTHTOKEN.replace("auth_url = http://k:5000\n", ""), "[keystone_authtoken] auth_url: missing"),
    (AUTHTOKEN.replace("auth_type = password", "auth_type = nosuchplugin"),
     "[keystone_authtoken] auth_type: unknown keystoneauth1 plugin 'nosuchplugin'"),
])
def test_credentials_that_cannot_work_are_one_line_naming_file_section_and_option(
        tmp_path: Path, neutron: str, where: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, neutron)
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert err.value.problems == [p for p in err.value.problems if p.startswith(str(tmp_path / "l3_agent.ini"))]
    assert len(err.value.problems) == 1 and where in err.value.problems[0], err.value.problems
    assert check_main(["-c", path]) == 2
    assert PASSWORD not in capsys.readouterr().out
