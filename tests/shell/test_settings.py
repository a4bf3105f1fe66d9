"""rpcdaemon.conf: the original format loads unchanged; every problem names file, section and option."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rpcdaemon.config.load import check_config, load_settings
from rpcdaemon.config.options import render_sample_config
from rpcdaemon.config.settings import ConfigError, default_settings

ROOT = Path(__file__).resolve().parents[2]

ORIGINAL = """[Daemon]
plugins = L3Agent DHCPAgent
rpchost = 10.0.0.1
pidfile = /var/run/rpcdaemon.pid
logfile = /var/log/rpcdaemon.log
loglevel = DEBUG
check_interval = 1

[L3Agent]
conffile = {neutron}
loglevel = DEBUG
timeout = 120
queue_expire = 60

[DHCPAgent]
conffile = {neutron}
loglevel = DEBUG
timeout = 120
queue_expire = 60

[Dump]
loglevel = DEBUG
queue = neutron
"""


@pytest.fixture
def neutron_conf(tmp_path: Path) -> Path:
    path = tmp_path / "neutron.conf"
    path.write_text("[DEFAULT]\nagent_down_time = 40\nmax_l3_agents_per_router = 2\n[database]\nconnection = x\n")
    return path


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "rpcdaemon.conf"
    path.write_text(text)
    return str(path)


def test_the_original_file_loads_unchanged(tmp_path: Path, neutron_conf: Path) -> None:
    s = load_settings(write(tmp_path, ORIGINAL.format(neutron=neutron_conf)))
    assert s.plugins == ("L3Agent", "DHCPAgent")
    assert s.rpchost == "10.0.0.1" and s.check_interval_s == 1.0 and s.loglevel == "DEBUG"
    assert s.l3.timeout_s == 120 and s.dhcp.queue_expire_s == 60 and s.dump.queue == "neutron"
    assert s.agent_down_time_s == 40 and s.agent_down_time_origin == str(neutron_conf)
    assert s.l3.ha_replicas == 2
    assert s.dhcp.agents_per_network is None  # 'all': the original behaviour


def test_defaults(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, "[Daemon]\n"))
    assert s.agent_down_time_s == 75 and s.agent_down_time_origin == "default"
    assert s.max_dead_fraction == 0.5 and not s.dry_run and s.status_listen == ("127.0.0.1", 8787)
    assert s.plugins == default_settings().plugins


def test_own_agent_down_time_wins(tmp_path: Path, neutron_conf: Path) -> None:
    s = load_settings(write(tmp_path, f"[Daemon]\nagent_down_time = 9\n[L3Agent]\nconffile = {neutron_conf}\n"))
    assert s.agent_down_time_s == 9


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[Daemon]\nplugins = L3agent\n", "[Daemon] plugins: unknown plugin 'L3agent' (did you mean 'L3Agent'?)"),
        ("[Daemon]\ncheck_interval = soon\n", "[Daemon] check_interval: must be a number"),
        ("[Daemon]\ncheck_interval = 0\n", "[Daemon] check_interval: must be at least"),
        ("[Daemon]\ndry_run = perhaps\n", "[Daemon] dry_run: must be true or false"),
        ("[Daemon]\nloglevel = LOUD\n", "[Daemon] loglevel: must be one of"),
        ("[Daemon]\nchek_interval = 5\n", "[Daemon] chek_interval: unknown option (did you mean 'check_interval'?)"),
        ("[L3Agent]\nconffile = /nonexistent/neutron.conf\n", "[L3Agent] conffile: file /nonexistent/neutron.conf"),
        ("[DHCPAgent]\ndhcp_agents_per_network = some\n", "[DHCPAgent] dhcp_agents_per_network: must be an integer"),
        ("[Daemon]\nstatus_listen = nowhere\n", "[Daemon] status_listen: must be HOST:PORT"),
        ("[Daemon]\nneutron_endpoint = ftp://x\n", "[Daemon] neutron_endpoint: must be an http:// or https:// URL"),
        ("[Daemon]\ncloud = a\nneutron_endpoint = http://h:9696\n", "[Daemon] neutron_endpoint: set either"),
        ("[L3agent]\n", "[L3agent]: unknown section (did you mean 'L3Agent'?)"),
        ("[Daemon]\ncheck_interval = 80\n", "[Daemon] check_interval: must be less than agent_down_time (75s"),
        ("[Daemon]\nrpchost = http://h/\n", "[Daemon] rpchost: rpchost 'http://h/': unsupported scheme"),
        ("[Daemon]\ncoordination_url = redis://h:6379\n", "[Daemon] coordination_url: backend 'redis' refused"),
        ("[Daemon]\ncoordination_url = consul://h\n", "[Daemon] coordination_url: unknown backend 'consul'"),
        ("[Daemon]\ncoordination_url = etcd3+http://\n", "[Daemon] coordination_url: 'etcd3+http://': a host"),
        ("[Daemon]\ncoordination_lease = 1\n", "[Daemon] coordination_lease: must be at least 2"),
        ("[Daemon]\nagent_down_time = nan\n", "[Daemon] agent_down_time: must be a finite number"),
        ("[Daemon]\nhold_down = inf\n", "[Daemon] hold_down: must be a finite number"),
    ],
)
def test_each_problem_names_file_section_and_option(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    problems = check_config(path)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}: ") and expected in problems[0], problems[0]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, "[Daemon]\nplugins = Nope\ncheck_interval = -1\nfoo = 1\n[L3Agent]\ntimeout = x\n")
    assert len(check_config(path)) == 4


def test_missing_and_unparsable_files(tmp_path: Path) -> None:
    assert check_config(str(tmp_path / "none.conf")) == [f"{tmp_path / 'none.conf'}: config file not found"]
    problems = check_config(write(tmp_path, "no section header\n"))
    assert len(problems) == 1 and "not a valid ini file" in problems[0]


def test_bad_neutron_conf_value_names_that_file(tmp_path: Path) -> None:
    neutron = tmp_path / "neutron.conf"
    neutron.write_text("[DEFAULT]\nagent_down_time = soon\n")
    problems = check_config(write(tmp_path, f"[L3Agent]\nconffile = {neutron}\n"))
    assert problems == [f"{neutron}: [DEFAULT] agent_down_time: must be an integer number of seconds (got 'soon')"]


def test_passwords_never_appear_in_messages(tmp_path: Path) -> None:
    problems = check_config(write(tmp_path, "[Daemon]\nneutron_endpoint = ftp://admin:hunter2@h/\n"))
    assert problems and all("hunter2" not in p for p in problems)
    problems = check_config(write(tmp_path, "[Daemon]\ncoordination_url = redis://admin:hunter2@h/\n"))
    assert problems and all("hunter2" not in p for p in problems)


def test_coordination_group_is_named_after_the_cloud(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "[Daemon]\nneutron_endpoint = http://10.0.0.5:9696\n"
                                             "coordination_url = etcd3+http://127.0.0.1:2379\n"))
    assert settings.coordination_group == "rpcdaemon-10.0.0.5-9696"
    assert settings.coordination_lease_s == 10.0
    assert load_settings(write(tmp_path, "[Daemon]\ncloud = prod east\n")).coordination_group == "rpcdaemon-prod-east"


def test_the_sample_config_is_generated_from_the_options_and_loads() -> None:
    sample = ROOT / "etc" / "rpcdaemon.conf.sample"
    assert sample.read_text() == render_sample_config(), "run: rpcdaemon sample-config > etc/rpcdaemon.conf.sample"
    assert check_config(str(sample)) == []


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_any_text_is_a_config_error_or_settings(text: str) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False, encoding="utf-8") as handle:
        handle.write(text)
    try:
        load_settings(handle.name)
    except ConfigError as exc:
        assert exc.problems and all(p.startswith(handle.name) for p in exc.problems)
    finally:
        Path(handle.name).unlink()


def test_tls_files_for_the_broker(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    s = load_settings(write(tmp_path, f"[Daemon]\nrpchost = amqps://u:p@h//\nrpc_ssl_ca_file = {ca}\n"))
    assert s.rpc_ssl == {"ca_certs": str(ca)}
    problems = check_config(write(tmp_path, "[Daemon]\nrpc_ssl_key_file = /nope.key\n"))
    assert len(problems) == 1 and "[Daemon] rpc_ssl_key_file: file /nope.key does not exist" in problems[0]


@pytest.mark.parametrize(("value", "expected"), [
    ("nan", "must be an integer number of seconds (got 'nan')"),
    ("inf", "must be an integer number of seconds (got 'inf')"),
    ("0.5", "must be an integer number of seconds (got '0.5')"),
    ("75.0", "must be an integer number of seconds (got '75.0')"),
    ("0", "must be at least 1 (got '0')"),
    ("-30", "must be at least 1 (got '-30')"),
])
def test_neutron_agent_down_time_must_be_whole_seconds(tmp_path: Path, value: str, expected: str) -> None:
    """Neutron reads agent_down_time as an integer; nan or inf taken as a float meant no agent ever died."""
    neutron = tmp_path / "neutron.conf"
    neutron.write_text(f"[DEFAULT]\nagent_down_time = {value}\n")
    problems = check_config(write(tmp_path, f"[L3Agent]\nconffile = {neutron}\n[DHCPAgent]\nconffile = {neutron}\n"))
    assert problems == [f"{neutron}: [DEFAULT] agent_down_time: {expected}"]


@pytest.mark.parametrize(("value", "expected"), [
    ("nan", "must be an integer (got 'nan')"),
    ("1.5", "must be an integer (got '1.5')"),
    ("-1", "must be at least 1 (got '-1')"),
    ("0", "0 (every agent) cannot be followed: set [L3Agent] ha_replicas"),
])
def test_neutron_max_l3_agents_per_router_must_be_a_whole_count(tmp_path: Path, value: str, expected: str) -> None:
    neutron = tmp_path / "neutron.conf"
    neutron.write_text(f"[DEFAULT]\nmax_l3_agents_per_router = {value}\n")
    problems = check_config(write(tmp_path, f"[L3Agent]\nconffile = {neutron}\n"))
    assert problems == [f"{neutron}: [DEFAULT] max_l3_agents_per_router: {expected}"]
    assert load_settings(write(tmp_path, f"[L3Agent]\nconffile = {neutron}\nha_replicas = 2\n")).l3.ha_replicas == 2


def test_every_neutron_conf_is_checked(tmp_path: Path) -> None:
    """A valid value in the L3 plugin's neutron.conf does not hide an invalid one in the DHCP plugin's."""
    good, bad = tmp_path / "good.conf", tmp_path / "bad.conf"
    good.write_text("[DEFAULT]\nagent_down_time = 40\n")
    bad.write_text("[DEFAULT]\nagent_down_time = inf\n")
    problems = check_config(write(tmp_path, f"[L3Agent]\nconffile = {good}\n[DHCPAgent]\nconffile = {bad}\n"))
    assert problems == [f"{bad}: [DEFAULT] agent_down_time: must be an integer number of seconds (got 'inf')"]
    good.write_text("[DEFAULT]\nagent_down_time = 1\nmax_l3_agents_per_router = 1\n")
    settings = load_settings(write(tmp_path, f"[Daemon]\ncheck_interval = 0.5\n[L3Agent]\nconffile = {good}\n"))
    assert settings.agent_down_time_s == 1 and settings.l3.ha_replicas == 1


SECRET = "TopSecretToken"


@pytest.mark.parametrize(("text", "line", "what"), [
    (f"status_token = {SECRET}\n[Daemon]\n", 1, "before the first [section] header"),
    (f"# a comment\n\nneutron_endpoint = http://admin:{SECRET}@h:9696\n[Daemon]\n", 3, "before the first"),
    (f"[Daemon]\nloglevel = INFO\n{SECRET}\n", 3, "neither a [section] header nor 'name = value'"),
])
def test_a_line_that_breaks_the_file_is_named_by_number_never_quoted(tmp_path: Path, text: str, line: int,
                                                                      what: str) -> None:
    path = write(tmp_path, text)
    problems = check_config(path)
    assert len(problems) == 1 and problems[0].startswith(f"{path}: line {line}: not a valid ini file"), problems
    assert what in problems[0] and SECRET not in problems[0]
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert SECRET not in str(info.value)


def test_a_broken_neutron_conf_is_named_by_line_never_quoted(tmp_path: Path) -> None:
    neutron = tmp_path / "neutron.conf"
    neutron.write_text(f"connection = mysql+pymysql://neutron:{SECRET}@db/neutron\n[DEFAULT]\n")
    problems = check_config(write(tmp_path, f"[L3Agent]\nconffile = {neutron}\n"))
    assert problems == [f"{tmp_path / 'rpcdaemon.conf'}: [L3Agent] conffile: cannot read neutron config: "
                        f"{neutron}: line 1: not a valid ini file: an option or text before the first [section] "
                        "header"]


@pytest.mark.parametrize("text", [
    f"[Daemon]\nneutron_endpoint = admin:{SECRET}@h:9696\n",
    f"[Daemon]\nneutron_endpoint = ftp://admin:{SECRET}@h/\n",
    f"[Daemon]\nrpchost = http://u:{SECRET}@h/\n",
    f"[Daemon]\nrpchost = rabbit://u:p@h1,u:{SECRET}@h2:port/\n",
    f"[Daemon]\ncoordination_url = redis://:{SECRET}@h/\n",
])
def test_a_secret_option_s_value_is_never_shown(tmp_path: Path, text: str) -> None:
    problems = check_config(write(tmp_path, text))
    assert problems and all(SECRET not in p for p in problems), problems


@pytest.mark.parametrize("text", ["L3Agent,DHCPAgent", "L3Agent, DHCPAgent", "L3Agent DHCPAgent",
                                  " L3Agent ,DHCPAgent, ",
                                  "L3Agent,,DHCPAgent"])
def test_plugins_are_separated_by_commas_or_spaces(tmp_path: Path, text: str) -> None:
    """The original's sample writes `plugins = L3Agent,DHCPAgent`, its README a space-separated list: both load."""
    s = load_settings(write(tmp_path, f"[Daemon]\nneutron_endpoint = http://127.0.0.1:9696\nplugins = {text}\n"))
    assert s.plugins == ("L3Agent", "DHCPAgent")


def test_plugins_mixed_separators_and_an_unknown_name_among_commas(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, "[Daemon]\nneutron_endpoint = http://127.0.0.1:9696\n"
                                      "plugins = L3Agent, DHCPAgent Dump\n"))
    assert s.plugins == ("L3Agent", "DHCPAgent", "Dump")
    problems = check_config(write(tmp_path, "[Daemon]\nplugins = L3Agent,DHCPagent\n"))
    assert any("[Daemon] plugins: unknown plugin 'DHCPagent' (did you mean 'DHCPAgent'?)" in p for p in problems)
