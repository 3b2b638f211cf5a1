"""Secrets and misconfiguration of autoscan's state fail loudly: no password in ``--send-pending``'s URL,
a TOML config holding the state's password must be private (the token file's check), and a libpq
``key=value`` connection string opens PostgreSQL (a real throwaway cluster), never a SQLite file."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from pg_cluster import database_name, module_cluster

from btsbot_fast.autoscan import Autoscan
from btsbot_fast.autoscan.config import ConfigError, load_config, read_token
from btsbot_fast.autoscan.state import (
    PostgresStore,
    StateError,
    metric_counts,
    open_store,
    safe_url,
)
from btsbot_fast.cli import main

PASSWORD = "hunter2-never-shown"


cluster = pytest.fixture(scope="module")(module_cluster)


@pytest.fixture()
def dbname(cluster, request) -> str:
    name = database_name(request, "s_")
    cluster.fresh_database(name)
    return name


def _tables(cluster, dbname: str) -> set[str]:
    with psycopg.connect(cluster.url(dbname)) as db:
        return {r[0] for r in db.execute("SELECT table_name FROM information_schema.tables "
                                         "WHERE table_schema = 'public'")}


@pytest.mark.parametrize("state", [f"postgresql://btsbot:{PASSWORD}@127.0.0.1:1/autoscan",
                                   f"postgresql://btsbot@127.0.0.1:1/autoscan?password={PASSWORD}",
                                   f"host=127.0.0.1 port=1 dbname=autoscan password={PASSWORD}"],
                         ids=["userinfo", "query", "key-value"])
def test_send_pending_refuses_a_password_in_its_url(state, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(main, ["autoscan", "--send-pending", state, "--skyportal-url", "http://127.0.0.1:1"],
                             env={"SKYPORTAL_TOKEN": "t0ken"})
    assert res.exit_code == 2, res.output
    assert "--send-pending: no passwords on the command line" in res.output and "PGPASSWORD" in res.output
    assert PASSWORD not in res.output
    assert list(tmp_path.iterdir()) == []  # refused before anything was opened


def _config(path: Path, state: str, mode: int) -> Path:
    path.write_text(f'policy = "bts_p1"\nstate = "{state}"\n')
    path.chmod(mode)
    return path


def test_a_config_file_holding_the_state_password_must_be_private(cluster, dbname, tmp_path):
    state = f"postgresql://btsbot:{PASSWORD}@127.0.0.1:{cluster.port}/{dbname}"
    path = _config(tmp_path / "autoscan.toml", state, 0o644)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = str(err.value)
    assert f"the autoscan config file {path} is readable by other users (mode 644)" in text
    assert f"chmod 600 {path}" in text and "holds a password" in text and PASSWORD not in text
    # the same check and hint as the token file
    token = tmp_path / "token"
    token.write_text("t0ken\n")
    token.chmod(0o640)
    with pytest.raises(ConfigError,
                       match=f"readable by other users \\(mode 640\\); make it private: chmod 600 {token}"):
        read_token(token)
    path.chmod(0o600)
    config = load_config(path)
    assert config.state == state
    with Autoscan(config) as scan:  # the password reaches the server (trust authentication ignores it)
        assert isinstance(scan.store, PostgresStore)
    assert "decisions" in _tables(cluster, dbname)


def test_a_config_file_without_a_password_may_be_shared(tmp_path):
    path = _config(tmp_path / "autoscan.toml", "autoscan.sqlite", 0o644)
    assert load_config(path).state == str(tmp_path / "autoscan.sqlite")


def test_a_libpq_connection_string_opens_postgresql(cluster, dbname, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    dsn = f"host=127.0.0.1 port={cluster.port} user=btsbot dbname={dbname}"
    # through the command line: the state's tables appear in that database, no file of that name here
    res = CliRunner().invoke(main, ["autoscan", "--send-pending", dsn, "--skyportal-url", "http://127.0.0.1:1"],
                             env={"SKYPORTAL_TOKEN": "t0ken"})
    assert res.exit_code == 0, res.output
    assert {"alerts", "decisions", "actions"} <= _tables(cluster, dbname)
    assert list(tmp_path.iterdir()) == []
    with open_store(dsn) as store:
        assert isinstance(store, PostgresStore)
    assert metric_counts(dsn).open_actions == 0
    # in a TOML config it stays a connection string (not a file beside the config)
    path = _config(tmp_path / "autoscan.toml", dsn, 0o644)
    assert load_config(path).state == dsn
    assert sorted(p.name for p in tmp_path.iterdir()) == ["autoscan.toml"]


def test_a_mistyped_connection_string_is_refused_not_made_a_file(cluster, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StateError, match='cannot connect to the state hots=127.0.0.1 dbname=autoscan: .*"hots"'):
        open_store("hots=127.0.0.1 dbname=autoscan")
    with pytest.raises(StateError) as err:
        open_store(f"host=127.0.0.1 port={cluster.port} user=btsbot dbname=no_such_db password={PASSWORD}")
    assert "no_such_db" in str(err.value) and PASSWORD not in str(err.value)
    assert list(tmp_path.iterdir()) == []
    assert safe_url(f"host=db password='{PASSWORD} x' dbname=a") == "host=db dbname=a"
    assert os.path.basename(safe_url("./host=x")) == "host=x"  # a file of that name: write a path
