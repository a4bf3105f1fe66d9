"""A real Keystone 30 (the OpenStack series of the testbed's Neutron 29) on 127.0.0.1, and a Neutron behind it.

rpcdaemon reaches Neutron through openstacksdk, which in a cloud authenticates with Keystone and finds Neutron in the
catalog: the noauth testbed (tests/neutron/testbed.py) proves the repairs, not the tokens. This module adds the
real thing: Keystone's API under uWSGI, its schema in a database of the testbed's MariaDB, fernet tokens, a catalog
with Neutron in it, the users rpcdaemon runs as (admin, an application credential, a plain project member), and a
Neutron whose API validates every token with keystonemiddleware ([keystone_authtoken], no memcached: the
middleware's in-process cache).

Keystone has its own venv, cached in .cache/keystone-venv (git-ignored, as .cache/neutron-venv): a stamp file
makes the second run skip pip. Every process is started in its own session and stopped by PID (tests/servers.py),
Keystone before the MariaDB it uses, also when a test failed.

The clouds.yaml the tests write lives in a temporary folder; rpcdaemon finds it through OS_CLIENT_CONFIG_FILE, with
every other OS_* variable of the caller's environment removed so that only that file decides.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from testbed import ApiError, MariaDB, Rpcdaemon, Testbed, TestbedError, Topology, build_venv, wait_for

from servers import Proc, free_port, spawn, start, tail

REPO = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("RPCD_KEYSTONE_VENV") or REPO / ".cache" / "keystone-venv")  # git-ignored
REQUIREMENTS = ("keystone==30.0.0", "uwsgi", "pymysql")
REGION = "RegionOne"
ADMIN_PASSWORD = "admin-secret-pass"
NEUTRON_PASSWORD = "neutron-secret-pass"
MEMBER_PASSWORD = "member-secret-pass"


def ensure_venv(log: Path) -> Path:
    """The Keystone venv, built once as the Neutron venv is."""
    return build_venv(VENV, REQUIREMENTS, "Keystone", log)


@dataclass
class Token:
    value: str
    expires: float  # epoch seconds
    body: dict[str, Any]


class Keystone:
    """Keystone's public API under uWSGI with its database in `db`; `start()` builds and bootstraps it."""

    def __init__(self, base: Path, db: MariaDB, expiration_s: int = 3600) -> None:
        self.base = base
        self.base.mkdir(parents=True, exist_ok=True)
        self.db = db
        self.port = free_port()
        self.expiration_s = expiration_s
        self.conf = base / "keystone.conf"
        self.proc: Proc | None = None
        self._admin: Token | None = None
        self.ids: dict[str, str] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth_url(self) -> str:
        return f"{self.url}/v3"

    # ---------- building ----------
    def start(self) -> None:
        ensure_venv(self.base / "pip.log")
        self.db.sql("CREATE DATABASE keystone CHARACTER SET utf8mb4; "
                    "CREATE USER 'keystone'@'127.0.0.1' IDENTIFIED BY 'keystone'; "
                    "GRANT ALL PRIVILEGES ON keystone.* TO 'keystone'@'127.0.0.1';", check=True)
        self.write_config()
        for key_dir in ("fernet-keys", "credential-keys"):
            (self.base / key_dir).mkdir(mode=0o700, exist_ok=True)
        self.manage("db_sync")
        owner = ("--keystone-user", pwd.getpwuid(os.getuid()).pw_name,
                 "--keystone-group", grp.getgrgid(os.getgid()).gr_name)  # whoever runs the tests
        self.manage("fernet_setup", *owner)
        self.manage("credential_setup", *owner)
        self.manage("bootstrap", "--bootstrap-password", ADMIN_PASSWORD, "--bootstrap-username", "admin",
                    "--bootstrap-project-name", "admin", "--bootstrap-role-name", "admin",
                    "--bootstrap-service-name", "keystone", "--bootstrap-region-id", REGION,
                    "--bootstrap-admin-url", self.url, "--bootstrap-internal-url", self.url,
                    "--bootstrap-public-url", self.url)
        self.serve()

    def write_config(self) -> None:
        self.conf.write_text(
            "[DEFAULT]\ndebug = False\nuse_stderr = True\n"
            f"[database]\nconnection = mysql+pymysql://keystone:keystone@127.0.0.1:{self.db.port}/keystone"
            "?charset=utf8mb4\n"
            f"[token]\nprovider = fernet\nexpiration = {self.expiration_s}\n"
            f"[fernet_tokens]\nkey_repository = {self.base / 'fernet-keys'}\n"
            f"[fernet_receipts]\nkey_repository = {self.base / 'fernet-keys'}\n"
            f"[credential]\nkey_repository = {self.base / 'credential-keys'}\n"
            "[cache]\nenabled = False\n"
            # bcrypt's least work: at the default a token took 3 s of this machine's two cores, and a client renews
            # its token before each request when the lifetime is under keystoneauth's 120 s margin
            "[identity]\npassword_hash_rounds = 4\n")
        (self.base / "uwsgi.ini").write_text(
            f"[uwsgi]\nhttp-socket = 127.0.0.1:{self.port}\nvirtualenv = {VENV}\n"
            f"{self._app()}\nmaster = true\nprocesses = 1\nthreads = 4\n"
            "enable-threads = true\nlazy-apps = true\ndie-on-term = true\nneed-app = true\n"
            "add-header = Connection: close\n"
            f"env = OS_KEYSTONE_CONFIG_DIR={self.base}\nenv = OS_KEYSTONE_CONFIG_FILES=keystone.conf\n")

    @staticmethod
    def _app() -> str:
        """keystone-wsgi-public when the release still ships the script, else the module it wraps."""
        script = VENV / "bin" / "keystone-wsgi-public"
        return f"wsgi-file = {script}" if script.exists() else "module = keystone.wsgi.api:application"

    def manage(self, *args: str) -> None:
        log = self.base / "keystone-manage.log"
        with open(log, "ab") as out:
            rc = subprocess.run([str(VENV / "bin" / "keystone-manage"), "--config-file", str(self.conf), *args],
                                stdout=out, stderr=subprocess.STDOUT, check=False, timeout=600).returncode
        if rc:
            raise TestbedError(f"keystone-manage {args[0]} failed; end of {log}:\n{tail(log)}")

    def serve(self) -> None:
        self.proc = spawn("keystone", [str(VENV / "bin" / "uwsgi"), "--ini", str(self.base / "uwsgi.ini")],
                          self.base / "keystone.log")
        self._admin = None
        wait_for(self.admin_token, 120, "Keystone issuing a token", (self.proc,))

    def restart(self, expiration_s: int) -> None:
        """Keystone again with another token lifetime: keys, users and the catalog stay."""
        self.stop()
        self.expiration_s = expiration_s
        self.write_config()
        self.serve()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(30)
            self.proc = None

    # ---------- the API ----------
    def request(self, method: str, path: str, body: Any = None, token: str | None = None,
                expect_token: bool = False) -> Any:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token is not None:
            headers["X-Auth-Token"] = token
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.auth_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=60) as response:
                raw = response.read()
                subject = response.headers.get("X-Subject-Token")
        except urllib.error.HTTPError as exc:
            raise ApiError(exc.code, f"{method} {path}: {exc.code} {exc.read().decode(errors='replace')}") from None
        parsed = json.loads(raw) if raw.strip() else None
        return (subject, parsed) if expect_token else parsed

    def token(self, user: str, password: str, project: str) -> Token:
        body = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}
        value, parsed = self.request("POST", "/auth/tokens", body, expect_token=True)
        expires = datetime.fromisoformat(parsed["token"]["expires_at"].replace("Z", "+00:00")).timestamp()
        return Token(value, expires, parsed)

    def admin_token(self) -> str:
        """The admin's project-scoped token, renewed when less than a third of Keystone's lifetime is left."""
        if self._admin is None or self._admin.expires - time.time() < self.expiration_s / 3:
            self._admin = self.token("admin", ADMIN_PASSWORD, "admin")
        return self._admin.value

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        return self.request(method, path, body, token=self.admin_token())

    def _id_of(self, kind: str, name: str) -> str:
        rows = self.admin("GET", f"/{kind}?name={name}")[kind]
        if not rows:
            raise TestbedError(f"Keystone has no {kind} named {name}")
        return str(rows[0]["id"])

    def setup_cloud(self, neutron_url: str) -> None:
        """The `service` project, the `neutron` service user (admin there), Neutron in the catalog, and a project
        `demo` with a plain member `demo` in it."""
        ids = self.ids
        for name in ("admin", "member"):
            ids[f"role-{name}"] = self._id_of("roles", name)
        ids["user-admin"] = self._id_of("users", "admin")
        ids["project-admin"] = self._id_of("projects", "admin")
        for project in ("service", "demo"):
            ids[f"project-{project}"] = self.admin("POST", "/projects", {"project": {
                "name": project, "domain_id": "default"}})["project"]["id"]
        for user, password, project, role in (("neutron", NEUTRON_PASSWORD, "service", "admin"),
                                              ("demo", MEMBER_PASSWORD, "demo", "member")):
            ids[f"user-{user}"] = self.admin("POST", "/users", {"user": {
                "name": user, "password": password, "domain_id": "default",
                "default_project_id": ids[f"project-{project}"]}})["user"]["id"]
            self.admin("PUT", f"/projects/{ids[f'project-{project}']}/users/{ids[f'user-{user}']}"
                              f"/roles/{ids[f'role-{role}']}")
        service = self.admin("POST", "/services", {"service": {"type": "network", "name": "neutron"}})["service"]
        for interface in ("public", "internal", "admin"):
            self.admin("POST", "/endpoints", {"endpoint": {
                "service_id": service["id"], "interface": interface, "region_id": REGION, "url": neutron_url}})

    def application_credential(self, name: str) -> tuple[str, str]:
        """An application credential of the admin user on the admin project: (id, secret)."""
        made = self.admin("POST", f"/users/{self.ids['user-admin']}/application_credentials",
                          {"application_credential": {"name": name}})["application_credential"]
        return str(made["id"]), str(made["secret"])

    def token_requests(self) -> int:
        """How many tokens Keystone has issued (uWSGI logs one line per request)."""
        if self.proc is None:
            return 0
        return self.proc.log.read_text(errors="replace").count("POST /v3/auth/tokens")


class KeystoneTestbed(Testbed):
    """The testbed's Neutron with auth_strategy = keystone, behind a Keystone using the testbed's MariaDB; the
    testbed's own API calls send the admin's token."""

    __test__ = False

    def __init__(self, topology: Topology | None = None, base: Path | None = None) -> None:
        topology = topology or Topology()
        topology.extra = {**topology.extra, "auth_strategy": "keystone"}
        super().__init__(topology, base)
        self.keystone: Keystone | None = None

    def write_config(self) -> None:
        if self.keystone is None:  # the first write, MariaDB just up: Keystone before Neutron needs it
            assert self.db is not None
            began = time.monotonic()
            self.keystone = Keystone(self.base / "keystone", self.db)
            self.keystone.start()
            self.keystone.setup_cloud(self.api)
            self.timings["keystone"] = time.monotonic() - began
        super().write_config()
        ks = self.keystone
        with open(self.etc / "neutron.conf", "a") as conf:
            conf.write(
                "[keystone_authtoken]\n"
                f"www_authenticate_uri = {ks.url}\nauth_url = {ks.url}\nauth_type = password\n"
                f"username = neutron\npassword = {NEUTRON_PASSWORD}\nproject_name = service\n"
                "user_domain_name = Default\nproject_domain_name = Default\n"
                f"region_name = {REGION}\n")

    def request(self, method: str, path: str, body: Any = None, timeout: float = 60) -> Any:
        assert self.keystone is not None
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.api + path, data=data, method=method, headers={
            "Content-Type": "application/json", "Accept": "application/json",
            "X-Auth-Token": self.keystone.admin_token()})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise ApiError(exc.code, f"{method} {path}: {exc.code} {exc.read().decode(errors='replace')}") from None
        return json.loads(raw) if raw.strip() else None

    def close(self) -> None:
        """Keystone first (it uses the MariaDB), then the testbed's processes, whatever happens."""
        try:
            if self.keystone is not None:
                self.keystone.stop()
        finally:
            super().close()


def clean_env(clouds_yaml: Path) -> dict[str, str]:
    """This process's environment without OS_* variables, and OS_CLIENT_CONFIG_FILE pointing at `clouds_yaml`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["OS_CLIENT_CONFIG_FILE"] = str(clouds_yaml)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def write_clouds(path: Path, name: str, auth_type: str, auth: dict[str, str]) -> Path:
    lines = ["clouds:", f"  {name}:", f"    auth_type: {auth_type}", "    region_name: RegionOne",
             "    interface: public", "    identity_api_version: 3", "    auth:"]
    lines += [f"      {k}: {v!r}" for k, v in auth.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


class CloudRpcdaemon(Rpcdaemon):
    """The testbed's Rpcdaemon reading a clouds.yaml cloud instead of a noauth endpoint."""

    def __init__(self, testbed: Testbed, base: Path, cloud: str, clouds_yaml: Path, **options: str) -> None:
        super().__init__(testbed, base, cloud=cloud, neutron_endpoint="", **options)
        self.env = clean_env(clouds_yaml)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`rpcdaemon ARGS` to its end (plan, check-config), in the clouds.yaml's environment."""
        return subprocess.run([sys.executable, "-m", "rpcdaemon.cli.main", *args], capture_output=True, text=True,
                              check=False, timeout=120, env=self.env)

    def plan(self) -> subprocess.CompletedProcess[str]:
        return self.run("plan", "-c", str(self.conf))

    def start(self) -> None:
        self.proc = start("rpcdaemon", [sys.executable, "-m", "rpcdaemon.cli.main", "-d", "-c", str(self.conf)],
                          self.log, lambda: self.status()["agents"], 60, "rpcdaemon's /status listing agents",
                          env=self.env, error=TestbedError)

    def metric(self, name: str, **labels: str) -> float:
        """A sample of /metrics (0 when absent)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.status_port}/metrics", timeout=10) as response:
            text = response.read().decode()
        want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            key, _, value = line.rpartition(" ")
            metric, _, rest = key.partition("{")
            got = ",".join(sorted(rest.rstrip("}").split(","))) if rest else ""
            if metric == name and got == want:
                return float(value)
        return 0.0


def as_dict(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    return {"rc": result.returncode, "stdout": result.stdout, "stderr": result.stderr}
