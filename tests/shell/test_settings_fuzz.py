"""Fuzzing the config parser: whatever the file holds, load_settings gives a Settings or a ConfigError (never any
other exception), check_config agrees with it, a bad value never yields a Settings, and a Settings it gives is sane.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rpcdaemon.config.load import check_config, load_settings
from rpcdaemon.config.options import LOGLEVELS, OPTIONS, PLUGINS, SECTIONS, Kind, Option
from rpcdaemon.config.settings import ConfigError, Settings
from rpcdaemon.redaction import SECRET_KEY

EXISTING = os.path.abspath(__file__)
MISSING = "/nonexistent/rpcdaemon-fuzz/file.conf"
NUMERIC = (Kind.SECONDS, Kind.FRACTION, Kind.INT)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@contextmanager
def config_file(content: str | bytes) -> Iterator[str]:
    mode = "wb" if isinstance(content, bytes) else "w"
    with tempfile.NamedTemporaryFile(mode, suffix=".conf", delete=False) as f:
        f.write(content)
    try:
        yield f.name
    finally:
        os.unlink(f.name)


def outcome(path: str) -> Settings | ConfigError:
    try:
        return load_settings(path)
    except ConfigError as exc:
        return exc


def one_line(text: str) -> bool:
    return "\n" not in text and "\r" not in text and text.strip() == text and bool(text)


def parses_as_number(text: str) -> bool:
    try:
        float(text.strip())
    except ValueError:
        return False
    return True


LINE = st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=20).filter(one_line)
FINITE = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6)


def good_or_bad(option: Option) -> st.SearchStrategy[str]:
    """Values of every sort for this option: valid ones, edge ones, invalid ones."""
    kind = option.kind
    common = st.just("") | LINE
    if kind in NUMERIC:
        return (common | FINITE.map(lambda f: f"{f:g}") | st.integers(-5, 400).map(str)
                | st.sampled_from(["nan", "inf", "-inf", "1e400", "NaN"]))
    if kind is Kind.BOOL:
        return common | st.sampled_from(["true", "False", "1", "0", "yes", "off", "maybe"])
    if kind is Kind.LOGLEVEL:
        return common | st.sampled_from([*LOGLEVELS, "debug", "TRACE"])
    if kind is Kind.PLUGINS:
        return common | st.lists(st.sampled_from([*PLUGINS, "Foo", "l3agent"]), max_size=4).map(" ".join)
    if kind is Kind.ALL_OR_INT:
        return common | st.sampled_from(["all", "ALL", "0", "2", "-1", "some"])
    if kind is Kind.URL:
        return common | st.sampled_from(["http://127.0.0.1:9696", "https://neutron.example", "ftp://x", "http://"])
    if kind is Kind.HOSTPORT:
        return common | st.sampled_from(["127.0.0.1:8787", "[::1]:1", ":80", "h:99999", "h:", "h:0"])
    if kind is Kind.FILE:
        return st.sampled_from(["", EXISTING, MISSING])
    return common


@st.composite
def structured(draw: st.DrawFn) -> str:
    lines = []
    sections = draw(st.lists(st.sampled_from([*SECTIONS, "DEFAULT", "Bogus"]), max_size=5, unique=True))
    for section in sections:
        lines.append(f"[{section}]")
        known = [o for o in OPTIONS if o.section == section]
        for option in draw(st.lists(st.sampled_from(known), max_size=6, unique=True)) if known else []:
            lines.append(f"{option.name} = {draw(good_or_bad(option))}")
        if draw(st.booleans()):
            lines.append(f"{draw(st.sampled_from(['colour', 'check_intervall', 'timeout']))} = 1")
    return "\n".join(lines) + "\n"


def assert_sane(s: Settings) -> None:
    """What every Settings must satisfy, whatever file it came from."""
    numbers = [s.check_interval_s, s.agent_down_time_s, s.hold_down_s, s.max_dead_fraction, s.l3.timeout_s,
               s.dhcp.timeout_s, s.l3.queue_expire_s, s.dhcp.queue_expire_s]
    assert all(math.isfinite(n) for n in numbers), numbers
    assert 0.05 <= s.check_interval_s < s.agent_down_time_s
    assert s.agent_down_time_s >= 1 and s.hold_down_s >= 0
    assert 0 < s.max_dead_fraction <= 1
    assert s.max_evacuations_per_minute >= 1 and 1 <= s.max_concurrency <= 256 and 0 <= s.api_retries <= 10
    assert s.l3.timeout_s >= 0.1 and s.dhcp.timeout_s >= 0.1 and s.l3.ha_replicas >= 1
    assert s.dhcp.agents_per_network is None or s.dhcp.agents_per_network >= 1
    assert set(s.plugins) <= set(PLUGINS)
    assert s.loglevel in LOGLEVELS and s.l3.loglevel in LOGLEVELS and s.dhcp.loglevel in LOGLEVELS
    assert isinstance(s.status_listen, tuple) and 0 <= s.status_listen[1] <= 65535


@FUZZ
@given(st.text(max_size=400) | st.binary(max_size=200))
def test_any_content_gives_settings_or_config_error(content: str | bytes) -> None:
    with config_file(content) as path:
        result = outcome(path)
        problems = check_config(path)
    if isinstance(result, Settings):
        assert problems == []
        assert_sane(result)
    else:
        assert problems and all(isinstance(p, str) and p for p in problems)


@FUZZ
@given(structured())
def test_structured_configs_give_sane_settings_or_name_the_problem(content: str) -> None:
    with config_file(content) as path:
        result = outcome(path)
        problems = check_config(path)
    if isinstance(result, Settings):
        assert problems == []
        assert_sane(result)
    else:
        assert problems == result.problems
        assert all(p.startswith(path) for p in problems), problems


def bad_value(option: Option) -> st.SearchStrategy[str]:
    """Values this option must refuse (empty is never among them: it means the default)."""
    kind = option.kind
    words = LINE.filter(lambda v: not parses_as_number(v))
    if kind in NUMERIC:
        out = words
        if option.minimum is not None:
            low = option.minimum
            out |= st.floats(min_value=-1e6, max_value=low).filter(lambda f: f < low).map(repr)
        if option.maximum is not None:
            high = option.maximum
            out |= st.floats(min_value=high, max_value=1e9).filter(lambda f: f > high).map(repr)
        if kind is Kind.INT:
            out |= st.sampled_from(["1.5", "2e0"])
        return out
    if kind is Kind.BOOL:
        return words.filter(lambda v: v.lower() not in ("1", "yes", "true", "on", "0", "no", "false", "off"))
    if kind is Kind.LOGLEVEL:
        return words.filter(lambda v: v.upper() not in LOGLEVELS)
    if kind is Kind.PLUGINS:
        return st.sampled_from(["L3agent", "Foo", "DHCPAgent nope"])
    if kind is Kind.ALL_OR_INT:
        return words.filter(lambda v: v.lower() != "all") | st.sampled_from(["0", "-3"])
    if kind is Kind.URL:
        return st.sampled_from(["ftp://x", "http://", "neutron:9696", "file:///etc/passwd"])
    if kind is Kind.HOSTPORT:
        return st.sampled_from([":80", "h:99999", "h:", "no-port", "h:-1"])
    if kind is Kind.FILE:
        return st.just(MISSING)
    return st.nothing()


REFUSING = [o for o in OPTIONS if o.kind not in (Kind.STR, Kind.PATH)]


@FUZZ
@given(st.sampled_from(REFUSING).flatmap(lambda o: st.tuples(st.just(o), bad_value(o))))
def test_a_bad_value_never_gives_settings(case: tuple[Option, str]) -> None:
    option, value = case
    with config_file(f"[{option.section}]\n{option.name} = {value}\n") as path:
        result = outcome(path)
    assert isinstance(result, ConfigError), (option.section, option.name, value)
    assert any(f"[{option.section}] {option.name}" in p for p in result.problems), result.problems


@FUZZ
@given(st.sampled_from(OPTIONS), st.text(st.characters(blacklist_categories=["Cs"]), max_size=30).map(str.strip))
def test_an_option_parses_any_text_or_says_what_is_wrong(option: Option, text: str) -> None:
    """Each option parses its own values: whatever the text, a value or a ValueError, never another exception."""
    try:
        option.parse(text)
    except ValueError as exc:
        assert str(exc)
        # the value is shown unless the option may hold a secret, or its name says it might (status_token_file)
        assert option.secret or SECRET_KEY.search(option.name) or text == "" or f"(got {text!r})" in str(exc)


def test_check_interval_not_below_agent_down_time() -> None:
    with config_file("[Daemon]\nagent_down_time = 10\ncheck_interval = 10\n") as path:
        assert isinstance(outcome(path), ConfigError)


def test_non_finite_numbers_are_refused() -> None:
    accepted = []
    for option in (o for o in OPTIONS if o.kind in (Kind.SECONDS, Kind.FRACTION)):
        for value in ("nan", "inf", "NaN", "Infinity"):
            with config_file(f"[{option.section}]\n{option.name} = {value}\n") as path:
                if isinstance(outcome(path), Settings):
                    accepted.append(f"[{option.section}] {option.name} = {value}")
    assert accepted == []
