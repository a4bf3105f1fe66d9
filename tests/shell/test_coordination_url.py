"""coordination_url: safe backends accepted with rpcdaemon's lease settings added, unsafe ones refused clearly."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from rpcdaemon.adapters.coordination import Cluster
from rpcdaemon.config.coordination_url import (
    REFUSED,
    CoordinationUrlError,
    check_coordination_url,
    group_name,
    tooz_url,
)
from rpcdaemon.core.leadership import LeaseTiming


@pytest.mark.parametrize("url", ["etcd3+http://127.0.0.1:2379", "etcd3+https://etcd.example:2379?ca_cert=/ca.pem",
                                 "zookeeper://z1:2181", "file:///var/lib/rpcdaemon/coordination"])
def test_safe_backends_are_accepted(url: str) -> None:
    check_coordination_url(url)


@pytest.mark.parametrize("scheme", sorted(REFUSED))
def test_unsafe_backends_are_refused_with_the_reason(scheme: str) -> None:
    with pytest.raises(CoordinationUrlError, match=f"backend '{scheme}' refused: .*use one of etcd3\\+http://"):
        check_coordination_url(f"{scheme}://user:hunter2@host:1234")


def test_credentials_never_appear_in_the_refusal() -> None:
    with pytest.raises(CoordinationUrlError) as caught:
        check_coordination_url("etcd3+http://user:hunter2@/")
    assert "hunter2" not in str(caught.value)


def test_lease_settings_are_added_unless_set() -> None:
    query = parse_qs(urlsplit(tooz_url("etcd3+http://h:2379?lock_timeout=20", LeaseTiming(8))).query)
    assert query == {"lock_timeout": ["20"], "membership_timeout": ["8"], "timeout": ["2"]}
    query = parse_qs(urlsplit(tooz_url("file:///x", LeaseTiming(5))).query)
    assert query == {"timeout": ["5"]}


def test_group_names() -> None:
    assert group_name("prod/east", None) == "rpcdaemon-prod-east"
    assert group_name(None, "http://10.1.2.3:9696") == "rpcdaemon-10.1.2.3-9696"
    assert group_name(None, None) == "rpcdaemon-default"


def test_a_driver_that_cannot_load_is_refused_at_start() -> None:
    def broken(_url: str, _member: bytes) -> object:
        raise ImportError("No module named 'kazoo'")

    with pytest.raises(CoordinationUrlError, match="backend 'zookeeper' cannot be used: ImportError"):
        Cluster("zookeeper://z:2181", "g", "m", LeaseTiming(10), connect=broken)  # type: ignore[arg-type]
