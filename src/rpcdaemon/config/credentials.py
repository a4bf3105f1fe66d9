"""Keystone credentials from a plugin's conffile: the original rpcdaemon's way, and a modern neutron.conf's.

The original took its credentials from the conffile it was given: `admin_user`, `admin_password`,
`admin_tenant_name` and `auth_url` among the [AGENT] items (which include [DEFAULT]'s) of, say, l3_agent.ini. Its
auth_url was Keystone's v2.0 API, which Keystone no longer serves: the same user and project are used through v3,
in the default domain (where v2.0 put every user). A modern neutron.conf holds the server's own service
credentials in [keystone_authtoken], read here with keystoneauth1's own option list of the section's `auth_type`
(password unless it says otherwise), so that whatever that plugin accepts there is accepted here too. The Neutron
endpoint then comes from the catalog, in `region_name` and through `interface` where the section sets them.

Precedence (load.py): a clouds.yaml `cloud`, then `neutron_endpoint`, then these. Nothing here ever puts a
password into a message or a repr.
"""

from __future__ import annotations

import configparser
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

AUTHTOKEN = "keystone_authtoken"
ORIGINAL_KEYS = ("admin_user", "admin_password", "admin_tenant_name", "auth_url")
ORIGINAL_SECTIONS = ("AGENT", "agent", "DEFAULT")


@dataclass(frozen=True, slots=True)
class Credentials:
    """How to get a token: a keystoneauth1 plugin and its options, and where the Neutron endpoint is looked up."""

    auth_type: str
    auth: Mapping[str, str] = field(repr=False)
    origin: str
    """Where they were read: `FILE [SECTION]`."""
    region_name: str | None = None
    interface: str | None = None

    def describe(self) -> str:
        """What check-config and the start-up log say: who, where, from which file; never the password."""
        who = self.auth.get("username") or self.auth.get("user_id") or self.auth.get(
            "application_credential_id") or "?"
        project = self.auth.get("project_name") or self.auth.get("project_id")
        text = f"Keystone {self.auth_type} of {who}" + (f" in project {project}" if project else "")
        text += f" at {self.auth.get('auth_url', '?')}"
        if self.region_name:
            text += f", region {self.region_name}"
        return f"{text} (from {self.origin})"


class CredentialError(ValueError):
    """(section, option, what is wrong): the loader names the file."""

    def __init__(self, section: str, name: str, message: str) -> None:
        super().__init__(message)
        self.section, self.name = section, name


def from_conffile(path: str, parser: configparser.ConfigParser) -> Credentials | None:
    """The credentials a conffile holds ([keystone_authtoken] first, then the original's admin_* keys), or None.
    CredentialError when a set is begun but cannot work (a user without a password, an unknown auth_type)."""
    if parser.has_section(AUTHTOKEN):
        found = _authtoken(path, parser)
        if found is not None:
            return found
    return _original(path, parser)


def _authtoken(path: str, parser: configparser.ConfigParser) -> Credentials | None:
    section = _own_items(parser, AUTHTOKEN)
    own = set(section)
    if not own & {"username", "user_id", "user_name", "application_credential_id", "password"}:
        return None  # only the middleware's own options (memcached, www_authenticate_uri): no credentials here
    auth_type = section.get("auth_type") or section.get("auth_plugin") or "password"
    from keystoneauth1 import loading  # noqa: PLC0415 - only a conffile with credentials pays for the import

    try:
        loader: loading.BaseLoader[Any] = loading.get_plugin_loader(auth_type)
    except Exception:  # keystoneauth1's NoMatchingPlugin, or a plugin that fails to load
        raise CredentialError(AUTHTOKEN, "auth_type", f"unknown keystoneauth1 plugin {auth_type!r}") from None
    auth: dict[str, str] = {}
    for opt in loader.get_options():
        names = [opt.dest, opt.name.replace("-", "_"), *(d.name.replace("-", "_") for d in opt.deprecated)]
        value = next((section[n] for n in names if n in section), None)
        if value is not None:
            auth[opt.dest] = value
    if "auth_url" not in auth:
        raise CredentialError(AUTHTOKEN, "auth_url", "missing: the section has credentials but no auth_url")
    if auth_type in ("password", "v3password") and "password" not in auth:
        raise CredentialError(AUTHTOKEN, "password", "missing: the section has a user but no password")
    return Credentials(auth_type, auth, f"{path} [{AUTHTOKEN}]", section.get("region_name"),
                       section.get("interface") or None)


def _own_items(parser: configparser.ConfigParser, name: str) -> dict[str, str]:
    """A section's own options: oslo.config does not inherit [DEFAULT] into a group, configparser does (and its
    public API cannot tell a section's own `auth_url` from [DEFAULT]'s, so its table of sections is read)."""
    raw: Mapping[str, str | None] = getattr(parser, "_sections", {}).get(name, {})
    return {k: v.strip() for k, v in raw.items() if isinstance(v, str) and v.strip()}


def _original(path: str, parser: configparser.ConfigParser) -> Credentials | None:
    items: dict[str, str] = {}
    section = "DEFAULT"
    for name in ORIGINAL_SECTIONS:
        if name == "DEFAULT":
            items = {k: v.strip() for k, v in parser.defaults().items()}
        elif parser.has_section(name):
            items = {k: v.strip() for k, v in parser.items(name, raw=True)}
        else:
            continue
        section = name
        if any(items.get(k) for k in ORIGINAL_KEYS):
            break
    given = {k: items[k] for k in ORIGINAL_KEYS if items.get(k)}
    if not given:
        return None
    for key in ORIGINAL_KEYS:
        if key not in given:
            raise CredentialError(section, key, f"missing: the file sets {', '.join(sorted(given))} but not {key}")
    auth_url = given["auth_url"].rstrip("/")
    for suffix in ("/v2.0", "/v3"):
        auth_url = auth_url.removesuffix(suffix)
    auth = {"auth_url": auth_url, "username": given["admin_user"], "password": given["admin_password"],
            "project_name": given["admin_tenant_name"], "user_domain_id": "default",
            "project_domain_id": "default"}
    region = items.get("auth_region") or items.get("region_name") or None
    return Credentials("password", auth, f"{path} [{section}] admin_user", region, None)
