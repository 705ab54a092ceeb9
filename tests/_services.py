"""Real services for the test suite: a throwaway PostgreSQL cluster on loopback (Debian's binaries).

The Kafka broker lives in `eventlens.local_kafka` because `make demo` needs it too.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from eventlens.local_kafka import free_port

_PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


class ServiceError(RuntimeError):
    """A service the tests need could not be started; the message says how to fix it."""


def _pg_tool(name: str) -> str:
    for d in _PG_BIN_DIRS:
        if (d / name).exists():
            return str(d / name)
    found = shutil.which(name)
    if found is None:
        raise ServiceError(f"PostgreSQL's '{name}' was not found: apt-get install postgresql")
    return found


@dataclass
class LocalPostgres:
    """A PostgreSQL cluster in a temporary folder, on a free loopback port, trusting local connections."""

    root: Path
    port: int
    user: str = "postgres"

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"


def _as_owner(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the `postgres` system user then."""
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


@contextlib.contextmanager
def local_postgres() -> Iterator[LocalPostgres]:
    """Start a throwaway cluster; yield it; stop it and delete its files."""
    root = Path(tempfile.mkdtemp(prefix="eventlens-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError as exc:
            raise ServiceError("no 'postgres' system user: apt-get install postgresql") from exc
        os.chown(root, pw.pw_uid, pw.pw_gid)
        user = "postgres"
    else:
        user = pwd.getpwuid(os.geteuid()).pw_name
    port = free_port()
    initdb = _as_owner([_pg_tool("initdb"), "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8",
                        "--no-sync"])
    result = subprocess.run(initdb, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ServiceError(f"initdb failed: {result.stderr}")
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off -c max_connections=200"
    start = _as_owner([_pg_tool("pg_ctl"), "-D", str(data), "-l", str(root / "pg.log"), "-o", opts, "-w", "start"])
    result = subprocess.run(start, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        log = (root / "pg.log").read_text() if (root / "pg.log").exists() else ""
        raise ServiceError(f"pg_ctl start failed: {result.stderr}\n{log}")
    pg = LocalPostgres(root=root, port=port, user=user)
    try:
        _wait_pg(pg)
        yield pg
    finally:
        subprocess.run(_as_owner([_pg_tool("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


def _wait_pg(pg: LocalPostgres, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ok = subprocess.run([_pg_tool("pg_isready"), "-h", "127.0.0.1", "-p", str(pg.port)],
                            capture_output=True, check=False)
        if ok.returncode == 0:
            return
        time.sleep(0.2)
    raise ServiceError(f"PostgreSQL on port {pg.port} did not become ready")
