"""A throwaway PostgreSQL cluster for tests: initdb into a temporary folder, pg_ctl start on a free
127.0.0.1 port, stopped and removed at the end. The server refuses to run as root, so when the tests
run as root (CI does) the cluster runs as the ``postgres`` system user that Debian's ``postgresql``
package creates (through ``runuser``). ``PostgresCluster.unavailable()`` says why it cannot start."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def _bin_dir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresCluster:
    user = "btsbot"

    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.run_as = "postgres" if os.geteuid() == 0 else None
        self.dir: Path | None = None
        self.port = 0

    def unavailable(self) -> str | None:
        if self.bin is None:
            return "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql"
        if self.run_as is not None:
            try:
                pwd.getpwnam(self.run_as)
            except KeyError:
                return "running as root and there is no 'postgres' user to run the server as"
            if shutil.which("runuser") is None:
                return "running as root and runuser is missing"
        return None

    def _cmd(self, *args: str) -> list[str]:
        prefix = ["runuser", "-u", self.run_as, "--"] if self.run_as else []
        return [*prefix, *args]

    def start(self) -> str:
        self.dir = Path(tempfile.mkdtemp(prefix="btsbot-pg-"))
        if self.run_as:
            pw = pwd.getpwnam(self.run_as)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        data, log = self.dir / "data", self.dir / "server.log"
        subprocess.run(self._cmd(str(self.bin / "initdb"), "-D", str(data), "-A", "trust", "-U", self.user,
                                 "-E", "UTF8", "--locale=C", "--no-sync"),
                       check=True, capture_output=True, timeout=120)
        self.port = _free_port()
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60")
        subprocess.run(self._cmd(str(self.bin / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60",
                                 "-o", options, "start"), check=True, capture_output=True, timeout=90)
        return self.url("postgres")

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        if self.dir is None:
            return
        try:
            subprocess.run(self._cmd(str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate",
                                     "-w", "stop"), capture_output=True, timeout=60)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def fresh_database(self, name: str) -> str:
        """The URL of database ``name``, dropped first if an earlier run left it."""
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as db:
            db.execute(f"DROP DATABASE IF EXISTS {name}")
            db.execute(f"CREATE DATABASE {name}")
        return self.url(name)


def database_name(request, prefix: str) -> str:
    """A database name of a test's own (its node name, lower-cased, within PostgreSQL's limit)."""
    return prefix + request.node.name.lower().replace("[", "_").replace("]", "").replace("-", "_")[:50]


def module_cluster():
    """The body of a module-scoped pytest fixture: a started cluster, stopped after the module, or the
    test skipped saying why none can start (``cluster = pytest.fixture(scope="module")(module_cluster)``)."""
    import pytest

    c = PostgresCluster()
    why = c.unavailable()
    if why:
        pytest.skip(why)
    c.start()
    yield c
    c.stop()
