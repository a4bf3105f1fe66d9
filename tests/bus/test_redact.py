"""rpcdaemon's one redaction: URLs with several hosts, secrets inside JSON strings and header pairs, log lines, and
bus text that must not reach a terminal raw."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from agents import notification
from hypothesis import given
from hypothesis import strategies as st

from rpcdaemon.adapters.bus.dump import format_json, format_line
from rpcdaemon.adapters.bus.envelope import decode
from rpcdaemon.redaction import RedactingFormatter, escape_controls, redact, redact_text

SECRET = "S3cr3tMarker"


@pytest.mark.parametrize("text", [
    f"rabbit://u:first@h1:5672,u:{SECRET}@h2:5672/",
    f"rabbit://u:{SECRET}@h1:5672,u:{SECRET}@h2:5672,u:{SECRET}@h3/vhost",
    f"rpchost 'rabbit://a:b@h1,c:{SECRET}@h2/': bad port",
    f"amqp://guest:{SECRET}@[::1]:5672//",
    f"http://admin:{SECRET[:4]}@{SECRET[4:]}@h:9696/v2.0",  # an '@' in the password
    f"rabbit://u:{SECRET[:4]},{SECRET[4:]}@h1,u:x@h2/",  # a ',' in the password
    f"Unable to find a version discovery document at http://admin:{SECRET}@127.0.0.1:9696, the service",
    f"etcd3+http://root:{SECRET}@127.0.0.1:2379?timeout=5",
])
def test_every_credential_of_a_url_is_masked(text: str) -> None:
    shown = redact_text(text)
    assert SECRET not in shown
    assert SECRET[:4] not in shown
    assert SECRET[4:] not in shown
    assert "***@" in shown


def test_hosts_and_users_stay_readable() -> None:
    assert (redact_text("rabbit://nova:a@h1:5672,nova:b@h2:5672/vh")
            == "rabbit://nova:***@h1:5672,nova:***@h2:5672/vh")
    assert redact_text("amqp://guest@h:5672//") == "amqp://guest@h:5672//"
    assert redact_text("see http://h:9696/v2.0/agents?fields=id") == "see http://h:9696/v2.0/agents?fields=id"


@pytest.mark.parametrize("text", [
    f"status_token = {SECRET}",
    f"GET /v2.0/agents?token={SECRET}&x=1",
    f'{{"password": "{SECRET}", "user": "u"}}',
    f"{{'auth_token': '{SECRET}'}}",
    f'"body": "{{\\"password\\": \\"{SECRET}\\"}}"',
    f'[["X-Auth-Token", "{SECRET}"], ["Accept", "json"]]',
    f"[('X-Auth-Token', '{SECRET}')]",
    f"X-Auth-Token: {SECRET}",
    f"Authorization: Bearer {SECRET}",
    "a Fernet token gAAAAABk1aZx-" + "Q" * 60 + " in prose",
])
def test_secret_shapes_in_text_are_masked(text: str) -> None:
    shown = redact_text(text)
    assert SECRET not in shown
    assert "QQQQQQ" not in shown
    assert "***" in shown


def test_problems_that_name_a_secret_option_stay_whole() -> None:
    for text in ("rpcdaemon.conf: [Daemon] status_token: unknown option",
                 "--match FIELD=GLOB with host=net-2*", "[Daemon] check_interval: must be a number (got 'soon')"):
        assert redact_text(text) == text


def test_json_strings_and_header_pairs_are_redacted_recursively() -> None:
    inner = json.dumps({"_context_auth_token": SECRET, "deeper": json.dumps({"password": SECRET, "n": 1})})
    value = {"body": inner, "headers": [["X-Auth-Token", SECRET], ["Accept", "application/json"]],
             "list": [{"Credential": SECRET}], "AUTH": {"user": "u"}, "kept": "net-1"}
    shown = redact(value)
    assert SECRET not in json.dumps(shown)
    assert shown["headers"] == [["X-Auth-Token", "***"], ["Accept", "application/json"]]
    assert json.loads(json.loads(shown["body"])["deeper"]) == {"password": "***", "n": 1}
    assert shown["AUTH"] == "***"
    assert shown["kept"] == "net-1"


def test_dump_json_keeps_no_token_in_json_strings_or_header_pairs() -> None:
    payload = {"router": {"id": "r1"},
               "request": json.dumps({"_context_auth_token": SECRET, "token": SECRET, "password": SECRET}),
               "headers": [["X-Auth-Token", SECRET]], "env": [["HTTP_X_AUTH_TOKEN", SECRET]]}
    msg = decode(notification("router.update.end", payload))
    record = json.loads(format_json(msg))
    assert SECRET not in json.dumps(record)
    assert SECRET not in format_line(msg)
    assert record["payload"]["headers"] == [["X-Auth-Token", "***"]]


@given(st.recursive(st.text(max_size=20) | st.integers() | st.none(),
                    lambda children: st.lists(children, max_size=4)
                    | st.dictionaries(st.text(max_size=12), children, max_size=4), max_leaves=20))
def test_a_secret_under_any_secret_key_never_survives(value: object) -> None:
    planted = {"x": value, "nested": json.dumps({"a": [value, {"api_key": SECRET}]}), "pair": ["token", SECRET]}
    assert SECRET not in json.dumps(redact(planted))


def test_log_lines_are_redacted_and_escaped() -> None:
    record = logging.LogRecord("rpcdaemon", logging.ERROR, __file__, 1, "cannot read %s: %s\nsecond line",
                               (f"http://admin:{SECRET}@h:9696", "host\x1b[2J"), None)
    try:
        raise RuntimeError(f"rabbit://u:a@h1,u:{SECRET}@h2/")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    line = RedactingFormatter("%(levelname)s %(message)s").format(record)
    assert SECRET not in line
    assert "\x1b" not in line
    assert "host\\x1b[2J" in line
    assert line.startswith("ERROR cannot read http://admin:***@h:9696")
    assert "\nsecond line" in line


def test_dump_lines_escape_control_characters() -> None:
    msg = decode({"event_type": "network.create.end", "publisher_id": "network.evil\x1b[31m\r\nfake line",
                  "payload": {"network": {"id": "n1\x1b]0;owned\x07"}}})
    line = format_line(msg)
    assert "\x1b" not in line
    assert "\r" not in line
    assert "\n" not in line
    assert "\x07" not in line
    assert "host=evil\\x1b[31m\\x0d\\x0afake line" in line
    assert "\x1b" not in format_json(msg)


def test_escape_controls() -> None:
    assert escape_controls("a\x1bb\x9bc\u202ed\te\nf") == "a\\x1bb\\x9bc\\u202ed\\x09e\\x0af"
    assert escape_controls("a\tb\nc\rd", keep_newlines=True) == "a\tb\nc\\x0dd"
