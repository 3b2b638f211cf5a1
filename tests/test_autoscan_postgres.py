"""Autoscan on a real PostgreSQL server (a throwaway cluster, tests/pg_cluster.py): the same behaviour as
on SQLite, and several workers acting exactly once - threads racing on halves of the same sources'
histories, worker processes on the same night, and a worker killed mid-send whose action another
worker finishes."""

from __future__ import annotations

import collections
import csv
import os
import subprocess
import sys
import threading
import time

import pytest

psycopg = pytest.importorskip("psycopg")
pytest.importorskip("requests")

from pg_cluster import database_name, module_cluster
from skyportal_server import SkyPortalServer, kill_9_at_followup

from btsbot_fast.autoscan import Autoscan, AutoscanConfig, FollowupConfig, SkyPortalConfig
from btsbot_fast.autoscan.state import PostgresStore, StateError, open_store, safe_url

GROUP, ALLOCATION = 41, 7


cluster = pytest.fixture(scope="module")(module_cluster)


@pytest.fixture()
def pg_url(cluster, request):
    """A fresh database per test."""
    return cluster.fresh_database(database_name(request, "t_"))


@pytest.fixture()
def server():
    s = SkyPortalServer().start()
    yield s
    s.stop()


def row(oid, candid, jd, score, mag=18.0, cand=True):
    return {"objectId": oid, "candid": candid, "jd": jd, "magpsf": mag, "fid": 1, "score": score, "status": "ok",
            "bts_candidate": cand, "ra": 150.25, "dec": 2.5}


def config(state, server=None, policy="gt1", followup=True, trail=False):
    sp = (SkyPortalConfig(url=server.url, group_ids=(GROUP,), timeout=10.0, max_attempts=3, backoff=0.01,
                          comments=trail, annotations=trail) if server else None)
    fu = FollowupConfig(allocation_id=ALLOCATION, target_group_ids=(GROUP,)) if server and followup else None
    return AutoscanConfig(policy=policy, state=state, skyportal=sp, followup=fu)


def count(url, sql):
    with psycopg.connect(url) as db:
        return db.execute(sql).fetchone()[0]


def test_postgres_state_decides_idempotently_and_dry_runs(pg_url, server):
    cfg = config(pg_url, server, policy="gt2")
    night = [row("ZTFa", 3, 2460000.3, 0.8), row("ZTFa", 1, 2460000.1, 0.9), row("ZTFb", 2, 2460000.2, 0.9)]
    with Autoscan(cfg, token=server.token) as scan:
        (d,) = scan.process(night)
        assert (d.objectId, d.candid) == ("ZTFa", 3)
        assert scan.process(night) == [] and scan.process([row("ZTFa", 0, 2460000.0, 0.99)]) == []
    assert [a["state"] for a in d.actions] == ["done", "done"]
    assert count(pg_url, "SELECT count(*) FROM alerts") == 4
    n = len(server.requests)
    with Autoscan(cfg, dry_run=True) as scan:  # ZTFb would be decided now: kept private, nothing sent
        (d,) = scan.process([row("ZTFb", 5, 2460000.5, 0.9)])
        assert [a["state"] for a in d.actions] == ["pending", "pending"]
    assert len(server.requests) == n and count(pg_url, "SELECT count(*) FROM alerts") == 4
    with Autoscan(cfg, token=server.token) as scan:
        assert [d.objectId for d in scan.process([row("ZTFb", 5, 2460000.5, 0.9)])] == ["ZTFb"]
    assert collections.Counter(r.body["id"] for r in server.calls("POST", "/api/sources")) == {"ZTFa": 1, "ZTFb": 1}


def test_claims_exclude_other_workers_until_released(pg_url):
    a, b = PostgresStore(pg_url), PostgresStore(pg_url)
    try:
        with a.transaction():
            a.insert_action("ZTFa", "gt1", "save", "save:x", {"id": "ZTFa"}, 0.0)
        (action,) = a.open_actions()
        assert a.claim(action.id) is not None
        assert b.claim(action.id) is None  # a live worker holds it
        a.finish(action, "done", 1, 200, {}, None, 1.0)
        a.release(action.id)
        assert b.claim(action.id) is None  # released, but finished: nothing to do
    finally:
        a.close()
        b.close()


def test_workers_racing_on_halves_of_each_history_decide_each_source_once(pg_url, server):
    # gt2 needs both alerts of a source; worker 0 gets every first alert, worker 1 every second one, in
    # small interleaved batches. Without the source locks each could judge half a history and miss it.
    n_sources = 60
    halves = [[row(f"ZTF{i:03d}", 1000 + 2 * i + k, 2460000.1 + k / 10, 0.9) for i in range(n_sources)]
              for k in (0, 1)]
    # the sources are known already (an earlier low-scoring alert each), so it is the row locks, not the
    # first insert of a source, that keep the workers apart
    with Autoscan(config(pg_url, server, policy="gt2"), token=server.token) as scan:
        assert scan.process([row(f"ZTF{i:03d}", 500 + i, 2460000.0, 0.1) for i in range(n_sources)]) == []
    barrier = threading.Barrier(2)
    made: list[list] = [[], []]
    errors = []

    def work(k):
        try:
            with Autoscan(config(pg_url, server, policy="gt2"), token=server.token, sleep=lambda s: None) as scan:
                barrier.wait()
                for s in range(0, n_sources, 4):
                    made[k] += scan.process(halves[k][s:s + 4])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    decided = [d.objectId for m in made for d in m if not d.resumed]
    assert sorted(decided) == [f"ZTF{i:03d}" for i in range(n_sources)]
    assert count(pg_url, "SELECT count(*) FROM decisions") == n_sources
    saves = collections.Counter(r.body["id"] for r in server.calls("POST", "/api/sources"))
    assert saves == {f"ZTF{i:03d}": 1 for i in range(n_sources)}
    assert collections.Counter(f["obj_id"] for f in server.followups) == saves
    assert count(pg_url, "SELECT count(*) FROM actions WHERE state <> 'done'") == 0


def _night_table(path, n_sources):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["objectId", "candid", "jd", "magpsf", "fid", "score", "status", "bts_candidate", "ra", "dec"])
        for i in range(n_sources):
            w.writerow([f"ZTF{i:03d}", 5000 + i, 2460000.5 + i / 1000, 18.0, 1, 0.9, "ok", "true", 10 + i, -5])
            w.writerow([f"ZTF{i:03d}", 9000 + i, 2460000.6 + i / 1000, 18.2, 2, 0.1, "ok", "false", 10 + i, -5])


def _worker_cmd(table, url, server, *extra):
    return [sys.executable, "-m", "btsbot_fast", "autoscan", str(table), "--policy", "gt1", "--state", url,
            "--skyportal-url", server.url, "--group-id", str(GROUP), "--allocation-id", str(ALLOCATION), *extra]


def test_worker_processes_on_the_same_night_act_once(pg_url, server, tmp_path):
    n_sources = 30
    _night_table(tmp_path / "night.csv", n_sources)
    server.delay[("POST", "/api/sources")] = 0.02  # let the workers overlap
    env = {**os.environ, "SKYPORTAL_TOKEN": server.token}
    procs = [subprocess.Popen(_worker_cmd(tmp_path / "night.csv", pg_url, server), env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    for p in procs:
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
        assert "postgresql://btsbot@127.0.0.1" in err or "127.0.0.1" in err
    want = {f"ZTF{i:03d}": 1 for i in range(n_sources)}
    assert collections.Counter(r.body["id"] for r in server.calls("POST", "/api/sources")) == want
    assert collections.Counter(r.body["obj_id"] for r in server.calls("POST", "/api/followup_request")) == want
    assert count(pg_url, "SELECT count(*) FROM decisions") == n_sources
    assert count(pg_url, "SELECT count(*) FROM alerts") == 2 * n_sources


def test_a_killed_workers_action_is_finished_by_another(pg_url, server, tmp_path):
    _night_table(tmp_path / "night.csv", 5)
    server.delay[("POST", "/api/followup_request")] = 30.0  # the first follow-up hangs: kill -9 there
    env = {**os.environ, "SKYPORTAL_TOKEN": server.token}
    proc = subprocess.Popen(_worker_cmd(tmp_path / "night.csv", pg_url, server, "--timeout", "60"), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    kill_9_at_followup(server, proc, 1)
    killed = server.followups[0]["obj_id"]
    server.delay.clear()
    # another worker: once the server has noticed the dead connection (its advisory lock is gone),
    # it finishes the interrupted follow-up (GET finds it: no second POST) and the rest
    deadline = time.monotonic() + 30
    with Autoscan(config(pg_url, server), token=server.token) as other:
        while True:
            other.resume()
            if count(pg_url, "SELECT count(*) FROM actions WHERE state <> 'done'") == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert count(pg_url, "SELECT count(*) FROM actions WHERE state <> 'done'") == 0
    posts = collections.Counter(r.body["obj_id"] for r in server.calls("POST", "/api/followup_request"))
    assert posts == {f"ZTF{i:03d}": 1 for i in range(5)} and killed in posts
    with psycopg.connect(pg_url) as db:
        (result,) = db.execute("SELECT result FROM actions WHERE object_id = %s AND kind = 'followup'",
                               [killed]).fetchone()
    assert '"recovered": true' in result


def test_unreachable_state_is_a_clear_error_without_the_password(cluster):
    url = f"postgresql://btsbot:hunter2@127.0.0.1:{cluster.port}/no_such_database"
    with pytest.raises(StateError) as err:
        open_store(url)
    assert "hunter2" not in str(err.value) and "no_such_database" in str(err.value)
    assert safe_url(url) == f"postgresql://btsbot@127.0.0.1:{cluster.port}/no_such_database"


def test_lost_database_connection_raises_and_redelivery_is_clean(pg_url, server):
    # the stream's contract: process() raises when the state is unusable, so offsets are not committed;
    # the re-delivered batch is then handled normally by a new worker
    batch = [row("ZTFa", 1, 2460000.1, 0.9)]
    with Autoscan(config(pg_url, server), token=server.token) as scan:
        with psycopg.connect(pg_url, autocommit=True) as db:
            db.execute("SELECT pg_terminate_backend(%s)", [scan.store._db.info.backend_pid])
        with pytest.raises(scan.store.errors):
            scan.process(batch)
    assert server.requests == [] and count(pg_url, "SELECT count(*) FROM alerts") == 0
    with Autoscan(config(pg_url, server), token=server.token) as scan:
        (d,) = scan.process(batch)
    assert [a["state"] for a in d.actions] == ["done", "done"] and len(server.calls("POST", "/api/sources")) == 1


def test_candidate_scenarios_on_postgres(cluster, pg_url):
    # the scenarios of test_autoscan_candidates.py (jd order, shuffled, replay, late candidate alerts, a
    # state made before the filter), each on a fresh database
    from test_autoscan_candidates import check_candidate_scenarios

    base = pg_url.rsplit("/", 1)[1]

    def new_state(name):
        return cluster.fresh_database(f"{base}_{name}"[:60])

    check_candidate_scenarios(new_state)
    assert count(cluster.url(f"{base}_late"[:60]), "SELECT count(*) FROM candidates") == 3


def test_a_dry_run_holds_no_lock_a_live_worker_waits_on(pg_url, server):
    # lock_timeout: a live statement that waits more than 1 s for any lock fails instead of hanging
    live_url = pg_url + "?options=-c%20lock_timeout%3D1000"
    with Autoscan(config(pg_url, server), dry_run=True) as dry:  # a database no live run has used yet
        assert [d.objectId for d in dry.process([row("ZTFz", 9, 2460000.1, 0.9)])] == ["ZTFz"]
    assert count(pg_url, "SELECT to_regclass('alerts') IS NULL")  # not even the schema was written
    with Autoscan(config(pg_url, server), token=server.token) as scan:
        scan.process([row("ZTFa", 1, 2460000.1, 0.2)])
    with Autoscan(config(pg_url, server), dry_run=True) as dry:
        (d,) = dry.process([row("ZTFa", 2, 2460000.2, 0.9), row("ZTFb", 3, 2460000.3, 0.9)])[:1]
        assert d.objectId == "ZTFa" and d.dry_run
        # while the dry run is open: a live worker on the same sources and the same alerts
        with Autoscan(config(live_url, server), token=server.token) as live:
            made = live.process([row("ZTFa", 2, 2460000.2, 0.9), row("ZTFb", 3, 2460000.3, 0.9)])
        assert sorted(m.objectId for m in made) == ["ZTFa", "ZTFb"]
        # the dry run saw the shared history (ZTFa's first alert) but wrote none of its own there
        assert dry.store.history(["ZTFa"])["ZTFa"][0][0] == 1
    assert count(pg_url, "SELECT count(*) FROM alerts") == 3 and count(pg_url, "SELECT count(*) FROM decisions") == 2
    assert collections.Counter(r.body["id"] for r in server.calls("POST", "/api/sources")) == {"ZTFa": 1, "ZTFb": 1}


def test_advisory_locks_are_namespaced_and_connections_keep_alive(pg_url):
    from btsbot_fast.autoscan.state import ADVISORY_NAMESPACE, PG_KEEPALIVES

    a = PostgresStore(pg_url)
    try:
        with a.transaction():
            a.insert_action("ZTFa", "gt1", "save", "save:x", {"id": "ZTFa"}, 0.0)
        (action,) = a.open_actions()
        assert a.claim(action.id) is not None
        with psycopg.connect(pg_url) as db:
            locks = db.execute("SELECT classid, objid, objsubid FROM pg_locks WHERE locktype = 'advisory'").fetchall()
        assert locks == [(ADVISORY_NAMESPACE, action.id, 2)]  # objsubid 2: the two-key form
        a.release(action.id)
        # both ends of the connection probe a silent peer: the server drops a vanished worker's session
        # (and its locks) after idle + interval x count seconds
        shown = {name: a._execute(f"SHOW {name}").fetchone()[0]
                 for name in ("tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count")}
        assert shown == {"tcp_keepalives_idle": str(PG_KEEPALIVES["idle"]),
                         "tcp_keepalives_interval": str(PG_KEEPALIVES["interval"]),
                         "tcp_keepalives_count": str(PG_KEEPALIVES["count"])}
        assert f"keepalives_idle={PG_KEEPALIVES['idle']}" in a._db.info.dsn  # libpq's, our side
    finally:
        a.close()
