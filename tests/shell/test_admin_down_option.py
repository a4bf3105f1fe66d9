"""neutron.conf's enable_services_on_agents_with_admin_state_down reaches the core's Policy (issue 12).

Whether an admin-down agent still serves what it hosts is neutron-server's choice, made by this [DEFAULT] option
(false unless set); rpcdaemon reads it from the neutron.conf its plugins name, as it reads agent_down_time, and
evacuates admin-down agents only when it is false.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rpcdaemon.config.load import check_config, load_settings
from rpcdaemon.config.settings import default_settings

OPTION = "enable_services_on_agents_with_admin_state_down"


def conf(tmp_path: Path, neutron: str | None, section: str = "L3Agent") -> str:
    path = tmp_path / "rpcdaemon.conf"
    text = "[Daemon]\nplugins = L3Agent DHCPAgent\n"
    if neutron is not None:
        neutron_path = tmp_path / "neutron.conf"
        neutron_path.write_text(neutron)
        text += f"[{section}]\nconffile = {neutron_path}\n"
    path.write_text(text)
    return str(path)


def test_false_without_a_neutron_conf_and_by_default() -> None:
    assert default_settings().services_on_admin_down is False
    assert default_settings().policy().services_on_admin_down is False


def test_false_when_neutron_conf_leaves_it_unset(tmp_path: Path) -> None:
    assert load_settings(conf(tmp_path, None)).policy().services_on_admin_down is False
    settings = load_settings(conf(tmp_path, "[DEFAULT]\nagent_down_time = 40\n"))
    assert settings.services_on_admin_down is False and settings.policy().services_on_admin_down is False
    # only [DEFAULT] counts: neutron-server registers the option there
    settings = load_settings(conf(tmp_path, f"[DEFAULT]\ndebug = true\n[agent]\n{OPTION} = True\n"))
    assert settings.services_on_admin_down is False


@pytest.mark.parametrize(("value", "expected"), [
    ("True", True), ("true", True), ("1", True), ("yes", True), ("on", True),
    ("False", False), ("false", False), ("0", False), ("no", False), ("", False),
])
def test_read_from_the_neutron_conf_default_section(tmp_path: Path, value: str, expected: bool) -> None:
    for section in ("L3Agent", "DHCPAgent"):
        settings = load_settings(conf(tmp_path, f"[DEFAULT]\n{OPTION} = {value}\n", section))
        assert settings.services_on_admin_down is expected
        assert settings.policy().services_on_admin_down is expected


def test_a_value_neutron_would_refuse_is_a_problem_naming_that_file(tmp_path: Path) -> None:
    path = conf(tmp_path, f"[DEFAULT]\n{OPTION} = maybe\n")
    assert check_config(path) == [f"{tmp_path / 'neutron.conf'}: [DEFAULT] {OPTION}: must be true or false "
                                  "(got 'maybe')"]
