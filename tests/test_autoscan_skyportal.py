"""Autoscan against a SkyPortal stand-in that answers as SkyPortal's own handlers do (tests/skyportal_server.py),
scenario by scenario, end to end, on SQLite and on PostgreSQL: outages of minutes, a revoked token, a run
without SkyPortal settings, follow-up POSTs stored after the client gave up, rewritten payloads, other
people's requests, substring ``sourceID`` matches and pagination, answers in odd shapes, facility
rejections and failed submissions re-driven with --retry-failed, the trail (comments, annotations),
candidates, dry runs, and kill -9 between a POST and its record. Each test counts the requests the
stand-in recorded."""

from __future__ import annotations

import collections
import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

pytest.importorskip("requests")

from click.testing import CliRunner
from pg_cluster import database_name, module_cluster
from skyportal_server import SkyPortalServer, kill_9_at_followup, utcnow

from btsbot_fast.autoscan import Autoscan, AutoscanConfig, FollowupConfig, SkyPortalConfig
from btsbot_fast.cli import main

GROUP, OTHER_GROUP, ALLOCATION, FILTER = 41, 42, 7, 1234
HEADER = "objectId,candid,jd,magpsf,fid,score,status,bts_candidate,ra,dec,model,model_version\n"


cluster = pytest.fixture(scope="module")(module_cluster)


@pytest.fixture(params=["sqlite", "postgres"])
def state(request, tmp_path):
    """A fresh state location: a SQLite file, or a database of a throwaway PostgreSQL cluster."""
    if request.param == "sqlite":
        return str(tmp_path / "state.sqlite")
    pytest.importorskip("psycopg")
    return request.getfixturevalue("cluster").fresh_database(database_name(request, "s_"))


@pytest.fixture()
def server():
    s = SkyPortalServer().start()
    yield s
    s.stop()


def row(oid, candid, jd, score, ra=150.25, dec=2.5):
    return {"objectId": oid, "candid": candid, "jd": jd, "magpsf": 18.0, "fid": 1, "score": score, "status": "ok",
            "bts_candidate": True, "ra": ra, "dec": dec, "model": "btsbot", "model_version": "v1.0.1"}


def config(state, server, *, followup=True, trail=False, **sp):
    opts = {"timeout": 2.0, "max_attempts": 2, "backoff": 0.01, "comments": trail, "annotations": trail,
            "followup_grace": 30.0, **sp}
    fu = FollowupConfig(allocation_id=ALLOCATION, target_group_ids=(GROUP,)) if followup else None
    return AutoscanConfig(policy="gt1", state=state, followup=fu,
                          skyportal=SkyPortalConfig(url=server.url, group_ids=(GROUP,), **opts))


def run(cfg, batches, server, **kw):
    out = []
    with Autoscan(cfg, token=kw.pop("token", server.token), sleep=lambda s: None, **kw) as scan:
        out += scan.resume()
        for b in batches:
            out += scan.process(b)
        stats = scan.stats
    return out, stats


def open_actions(state):
    """``(object_id, kind, state)`` of the state's unfinished actions, read on a connection of our own."""
    sql = "SELECT object_id, kind, state FROM actions WHERE state IN ('pending', 'sending') ORDER BY id"
    if state.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(state) as db:
            return db.execute(sql).fetchall()
    with sqlite3.connect(state) as db:
        return db.execute(sql).fetchall()


def night(n, prefix="ZTF24"):
    return [row(f"{prefix}{i:03d}", 100 + i, 2460000.5 + i / 100, 0.9) for i in range(n)]


def posts(server, path="/api/followup_request", key="obj_id"):
    return collections.Counter(r.body[key] for r in server.calls("POST", path))


def table(path, rows):
    path.write_text(HEADER + "".join(f"{r['objectId']},{r['candid']},{r['jd']},18.0,1,{r['score']},ok,true,"
                                     f"{r['ra']},{r['dec']},btsbot,v1.0.1\n" for r in rows))
    return path


def cli(args, server, token=None):
    env = {"SKYPORTAL_TOKEN": token or server.token}
    return CliRunner().invoke(main, ["autoscan", *map(str, args)], env=env)


# ------------------------------------------------------------------------------------------ nothing lost

def test_an_outage_leaves_everything_pending_and_the_next_run_sends_it_once(state, server, tmp_path):
    server.down(3600)
    t = table(tmp_path / "night.csv", night(6))
    args = [t, "--policy", "gt1", "--state", state, "--skyportal-url", server.url, "--group-id", GROUP,
            "--allocation-id", ALLOCATION, "--max-attempts", 3, "--backoff", 0, "--timeout", 2]
    res = cli(args, server)
    assert res.exit_code == 3, res.output
    assert "0 actions done, 0 failed, 30 pending" in res.output  # 6 x (save, comment, annotation, followup, comment)
    assert "HTTP 503" in res.output and "--send-pending" in res.output
    # one action's 3 tries, then the sweep stopped: the outage cost 3 requests, not 3 per action
    assert len(server.requests) == 3
    assert len(open_actions(state)) == 30
    server.down_until = 0.0
    res = cli(args, server)
    assert res.exit_code == 0, res.output
    assert "30 actions done, 0 failed, 0 pending" in res.output
    want = {f"ZTF24{i:03d}": 1 for i in range(6)}
    assert posts(server, "/api/sources", "id") == {k: v + (k == "ZTF24000") * 3 for k, v in want.items()}
    assert posts(server) == want and len(server.followups) == 6 and len(server.annotations) == 6
    assert len(server.comments) == 12  # a save comment and a follow-up comment per source
    n = len(server.requests)
    assert cli(args, server).exit_code == 0 and len(server.requests) == n  # a third run: nothing to send


def test_during_an_outage_a_long_run_tries_every_so_often_not_every_batch(state, server):
    server.down(3600)
    now = [1_700_000_000.0]
    cfg = config(state, server, followup=False)  # 2 tries per action
    with Autoscan(cfg, token=server.token, sleep=lambda s: None, clock=lambda: now[0]) as scan:
        for i in range(50):  # 50 batches, one a second
            scan.process([row(f"ZTF24{i:03d}", i, 2460000.5 + i / 100, 0.9)])
            now[0] += 1.0
        # tries at 0 s, then after pauses of 10 and 20 s: 3 sweeps of one action's 2 tries
        assert len(server.requests) == 6 and scan.stats.unreachable
        server.down_until = 0.0
        scan.resume()
    assert len(open_actions(state)) == 0 and len(server.sources) == 50


def test_a_revoked_token_stops_sending_keeps_everything_and_says_so(state, server, tmp_path):
    t = table(tmp_path / "night.csv", night(3))
    args = [t, "--policy", "gt1", "--state", state, "--skyportal-url", server.url, "--group-id", GROUP,
            "--allocation-id", ALLOCATION, "--no-trail"]
    res = cli(args, server, token="mistyped-token")
    assert res.exit_code == 4, res.output
    assert "SKYPORTAL REFUSED THE TOKEN" in res.output and "mistyped-token" not in res.output
    assert len(server.requests) == 1 and len(open_actions(state)) == 6
    from btsbot_fast.autoscan.state import metric_counts

    assert metric_counts(state).token_refused  # the stream's btsbot_fast_autoscan_token_refused gauge
    res = cli(args, server)  # the good token
    assert res.exit_code == 0, res.output
    assert posts(server) == {f"ZTF24{i:03d}": 1 for i in range(3)} and not metric_counts(state).token_refused


def test_a_run_without_skyportal_settings_never_touches_queued_actions(state, server):
    server.down(3600)
    cfg = config(state, server)
    run(cfg, [night(2)], server)
    before = open_actions(state)
    assert len(before) == 4
    bare = AutoscanConfig(policy="gt1", state=state)
    made, _ = run(bare, [night(3)], server)
    assert [d.objectId for d in made] == ["ZTF24002"] and made[0].actions == []
    assert open_actions(state) == before
    server.down_until = 0.0
    run(cfg, [[]], server)  # (the decision taken without SkyPortal gets its actions now)
    assert posts(server) == {"ZTF24000": 1, "ZTF24001": 1, "ZTF24002": 1} and open_actions(state) == []


# ------------------------------------------------------------------------------------------ never a second request

def test_a_request_stored_after_the_client_gave_up_is_waited_for_across_runs(state, server):
    # SkyPortal answers 3 s late: our POST times out (1 s), and the request shows up in the listing only
    # later (held back here) - the retry waits, across runs, instead of posting again
    server.delay[("POST", "/api/followup_request")] = 3.0
    server.followups_unlisted = True
    cfg = config(state, server, timeout=1.0)
    made, stats = run(cfg, [night(1)], server)
    fu = made[0].actions[1]
    assert fu["state"] == "pending" and "waiting for a follow-up request posted at" in fu["error"]
    assert len(server.calls("POST", "/api/followup_request")) == 1 and stats.unreachable is None
    made, _ = run(cfg, [[]], server)  # still not listed: still waiting, no second POST
    assert len(server.calls("POST", "/api/followup_request")) == 1
    server.followups_unlisted = False  # now SkyPortal lists it
    made, _ = run(cfg, [[]], server)
    fu = made[0].actions[1]
    assert fu["state"] == "done" and fu["result"] == {"recovered": True, "id": 1, "status": "submitted"}
    assert len(server.calls("POST", "/api/followup_request")) == 1 and len(server.followups) == 1


def test_a_lost_answer_then_a_rewritten_payload_still_finds_ours(state, server):
    # the facility rewrites the payload it stores (another observation type name, extra keys)
    server.rewrite = lambda p: {**p, "observation_type": "IFU (SEDMv2)", "exposure_time": 1800}
    server.delay[("POST", "/api/followup_request")] = 2.0
    made, _ = run(config(state, server, timeout=0.5), [night(1)], server)
    fu = made[0].actions[1]
    assert fu["state"] == "done" and fu["result"]["recovered"] is True
    assert len(server.calls("POST", "/api/followup_request")) == 1 and len(server.followups) == 1


@pytest.mark.parametrize("status", [None, "pending submission", "Observed", 17])
def test_someone_elses_matching_request_blocks_ours_whatever_its_status(state, server, status):
    # target groups overlap (ours: 41; theirs: 41 and 42), "advanced" and priority differ: Kowalski's match
    server.add_followup("ZTF24000", ALLOCATION, [GROUP, OTHER_GROUP],
                        {"observation_type": "IFU", "priority": 1, "advanced": {"exposure_time": 600}}, status=status)
    made, _ = run(config(state, server), [night(1)], server)
    fu = made[0].actions[1]
    assert fu["state"] == "done" and fu["result"]["existing"] is True and fu["result"]["id"] == 1
    assert server.calls("POST", "/api/followup_request") == [] and server.calls("PUT") == []


def test_every_page_is_read_and_only_the_exact_object_counts(state, server):
    # 150 requests of objects whose ids *contain* ours (sourceID matches substrings), then ours on page 2
    for i in range(150):
        server.add_followup(f"ZTF24000x{i}", ALLOCATION, [GROUP], {"observation_type": "IFU", "priority": 3})
    server.add_followup("ZTF24000", ALLOCATION, [GROUP], {"observation_type": "IFU", "priority": 5})
    server.add_followup("ZTF24001x", ALLOCATION, [GROUP], {"observation_type": "IFU", "priority": 5})
    made, _ = run(config(state, server), [night(2)], server)
    by = {d.objectId: d.actions[1] for d in made}
    assert by["ZTF24000"]["result"] == {"existing": True, "id": 151, "status": "submitted"}
    assert by["ZTF24001"]["result"]["id"] == 153 and "existing" not in by["ZTF24001"]["result"]
    pages = [r.query["pageNumber"] for r in server.calls("GET", "/api/followup_request")
             if r.query["sourceID"] == ["ZTF24000"]]
    assert pages == [["1"], ["2"]]
    assert posts(server) == {"ZTF24001": 1}


def test_an_answer_in_an_unexpected_shape_leaves_the_action_pending(state, server):
    server.fail("GET", "/api/followup_request", 200, times=2,
                answer={"status": "success", "data": [{"id": 1}]})  # a list, not {"followup_requests": ...}
    made, _ = run(config(state, server), [night(2)], server)
    by = {d.objectId: d.actions[1] for d in made}
    assert by["ZTF24000"]["state"] == "pending" and "no list of follow-up requests" in by["ZTF24000"]["error"]
    assert by["ZTF24001"]["state"] == "done"  # an odd answer is no outage: the sweep went on
    assert posts(server) == {"ZTF24001": 1}
    run(config(state, server), [[]], server)
    assert posts(server) == {"ZTF24000": 1, "ZTF24001": 1}


# ------------------------------------------------------------------------------------------ "done" that is done

def test_a_facility_rejection_is_dead_lettered_and_retry_failed_requests_anew(state, server, tmp_path):
    server.facility = "rejected: target not observable"
    t = table(tmp_path / "night.csv", night(1))
    args = [t, "--policy", "gt1", "--state", state, "--skyportal-url", server.url, "--group-id", GROUP,
            "--allocation-id", ALLOCATION, "--backoff", 0]
    res = cli(args, server)
    assert res.exit_code == 1, res.output
    # the follow-up, with the facility's reason, and its comment (no comment on a rejected request)
    assert "2 actions failed and were dead-lettered" in res.output
    assert len(server.comments) == 1
    server.facility = "submitted"
    res = cli([*args, "--retry-failed"], server)
    assert res.exit_code == 0, res.output
    assert "2 failed actions put back in the queue" in res.output  # the follow-up and its comment
    # a rejected request does not count (Kowalski): a new one went out, and now its comment
    assert [f["status"] for f in server.followups] == ["rejected: target not observable", "submitted"]
    assert len(server.comments) == 2 and server.comments[1]["text"].endswith("(priority: 3)")


def test_a_failed_submission_retried_waits_12_hours_and_is_never_done_without_a_request(state, server):
    server.facility = "failed to submit: SEDM queue full"
    cfg = config(state, server)
    made, _ = run(cfg, [night(1)], server)
    fu = made[0].actions[1]
    assert fu["state"] == "failed" and fu["http_status"] == 400 and "SEDM queue full" in fu["error"]
    server.facility = "submitted"
    with Autoscan(cfg, token=server.token, sleep=lambda s: None) as scan:
        assert scan.retry_failed() == 1
        (d,) = scan.resume()
    # SkyPortal keeps the failed request: within 12 h it blocks a new one, but it is no request that counts
    assert d.actions[1]["state"] == "pending" and "failed" in d.actions[1]["error"]
    assert len(server.calls("POST", "/api/followup_request")) == 1
    later = time.time() + 13 * 3600
    made, _ = run(cfg, [[]], server, clock=lambda: later)
    assert made[0].actions[1]["state"] == "done" and made[0].actions[1]["result"] == {"id": 2, "status": "submitted"}
    assert len(server.calls("POST", "/api/followup_request")) == 2


def test_validity_passed_dead_letters_a_follow_up_that_never_went_out(state, server):
    server.down(3600)
    t0 = time.time()
    cfg = config(state, server)
    run(cfg, [night(1)], server, clock=lambda: t0)
    server.down_until = 0.0
    made, _ = run(cfg, [[]], server, clock=lambda: t0 + 8 * 86400)  # validity_days = 7
    save, fu = made[0].actions
    assert save["state"] == "done" and fu["state"] == "failed" and "validity_days passed" in fu["error"]
    assert server.calls("POST", "/api/followup_request") == []


# ------------------------------------------------------------------------------------------ any SkyPortal, the trail

def test_candidates_saves_and_the_trail_exactly_once(state, server):
    cfg = config(state, server, trail=True, filter_id=FILTER)
    t0 = 1_700_000_000.0
    batch = [row("ZTF24aaa", 11, 2460000.1, 0.7, ra=10.5, dec=-3.25), row("ZTF24aaa", 12, 2460000.2, 0.95)]
    made, _ = run(cfg, [batch], server, clock=lambda: t0)
    assert [f"{r.method} {r.path}" for r in server.requests] == [
        "POST /api/candidates", "POST /api/sources", "POST /api/sources/ZTF24aaa/comments",
        "GET /api/sources/ZTF24aaa/annotations", "POST /api/sources/ZTF24aaa/annotations",
        "GET /api/followup_request", "POST /api/followup_request", "POST /api/sources/ZTF24aaa/comments"]
    cand, save = server.requests[0].body, server.requests[1].body
    assert cand == {"id": "ZTF24aaa", "ra": 10.5, "dec": -3.25, "filter_ids": [FILTER], "passing_alert_id": 11,
                    "passed_at": "2023-11-14T22:13:20.000000"}
    assert save["ra"] == 10.5 and save["dec"] == -3.25  # the triggering alert's position
    assert [a["kind"] for a in made[0].actions] == ["candidate", "save", "comment", "annotation", "followup",
                                                    "followup_comment"]
    assert all(a["state"] == "done" for a in made[0].actions)
    # a rerun and a replay change nothing
    run(cfg, [batch], server, clock=lambda: t0)
    assert len(server.requests) == 8
    assert len(server.comments) == 2 and len(server.annotations) == 1 and len(server.candidates) == 1


def test_annotations_are_updated_not_posted_twice(state, server):
    cfg = config(state, server, trail=True, followup=False, update_annotations=True)
    run(cfg, [[row("ZTF24aaa", 1, 2460000.1, 0.9)]], server)
    # someone posted an annotation of another origin meanwhile; later alerts change our scores
    server.annotations.append({"id": 99, "obj_id": "ZTF24aaa", "origin": "someone:else", "data": {"x": 1},
                               "author_id": 5, "group_ids": []})
    run(cfg, [[row("ZTF24aaa", 2, 2460000.2, 0.97), row("ZTF24aaa", 3, 2460000.3, 0.2)]], server)
    ours = [a for a in server.annotations if a["origin"] == "btsbot-fast:gt1"]
    assert len(ours) == 1 and ours[0]["data"]["btsbot_max_score"] == 0.97
    assert ours[0]["data"]["btsbot_latest_score"] == 0.2 and ours[0]["data"]["btsbot_alerts_above_0.5"] == 2
    assert len(server.calls("POST", "/api/sources/ZTF24aaa/annotations")) == 1
    (put,) = server.calls("PUT", "/api/sources/ZTF24aaa/annotations/1")
    assert put.body["author_id"] == 1
    # an annotation that exists although our POST's answer was lost ("Annotation already exists") is read
    cfg2 = config(state, server, trail=True, followup=False)
    server.annotations.append({"id": 100, "obj_id": "ZTF24bbb", "origin": "btsbot-fast:gt1", "data": {},
                               "author_id": 1, "group_ids": []})
    server.objects["ZTF24bbb"] = {"ra": 1.0, "dec": 1.0}
    made, _ = run(cfg2, [[row("ZTF24bbb", 4, 2460000.4, 0.9)]], server)
    assert made[0].actions[2]["result"] == {"existing": True, "id": 100}
    assert server.calls("POST", "/api/sources/ZTF24bbb/annotations") == []


def test_a_comment_goes_only_to_the_groups_saved_to(state, server):
    server.sources["ZTF24aaa"] = {3}
    server.objects["ZTF24aaa"] = {"ra": 1.0, "dec": 2.0}
    cfg = config(state, server, trail=True, followup=False, ignore_if_in_group_ids={str(GROUP): (3,)})
    made, _ = run(cfg, [[row("ZTF24aaa", 1, 2460000.1, 0.9)]], server)
    assert made[0].actions[0]["result"] == {"saved_to_groups": []}
    assert made[0].actions[1]["result"] == {"skipped": "saved to no group"} and server.comments == []


def test_a_dry_run_prints_what_it_would_send_and_leaves_no_file(server, tmp_path):
    t = table(tmp_path / "night.csv", night(2))
    where = tmp_path / "new" / "state.sqlite"
    res = cli([t, "--policy", "gt1", "--state", where, "--skyportal-url", server.url, "--group-id", GROUP,
               "--allocation-id", ALLOCATION, "--filter-id", FILTER, "--dry-run"], server)
    assert res.exit_code == 0, res.output
    lines = [x for x in res.output.splitlines() if x.startswith("would send: ")]
    assert len(lines) == 12 and lines[0].startswith('would send: POST /api/candidates {"dec": 2.5')
    assert sum("POST /api/followup_request" in x for x in lines) == 2
    assert ("2 new decisions; would send 2 candidates, 2 saves, 2 comments, 2 annotations, 2 follow-up requests, "
            "2 follow-up comments (dry run: nothing sent, state unchanged)") in res.output
    assert server.requests == [] and not (tmp_path / "new").exists()
    # on an existing state: nothing changes there, and no lock file is left behind
    res = cli([t, "--policy", "gt1", "--state", tmp_path / "s.sqlite"], server)
    assert res.exit_code == 0 and "1 new decision" not in res.output and "2 new decisions" in res.output
    (tmp_path / "s.sqlite.lock").unlink()
    before = sorted(p.name for p in tmp_path.iterdir()), (tmp_path / "s.sqlite").read_bytes()
    res = cli([table(tmp_path / "more.csv", [row("ZTF24x", 9, 2460001.0, 0.9)]), "--policy", "gt1",
               "--state", tmp_path / "s.sqlite", "--dry-run"], server)
    assert res.exit_code == 0, res.output
    assert "1 new decision; nothing to send (no SkyPortal settings)" in res.output
    after = sorted(p.name for p in tmp_path.iterdir() if p.name != "more.csv"), (tmp_path / "s.sqlite").read_bytes()
    assert after == before


# ------------------------------------------------------------------------------------------ kill -9

def test_kill_9_between_a_follow_up_post_and_its_record(state, server, tmp_path):
    t = table(tmp_path / "night.csv", night(3))
    cmd = [sys.executable, "-m", "btsbot_fast", "autoscan", str(t), "--policy", "gt1", "--state", state,
           "--skyportal-url", server.url, "--group-id", str(GROUP), "--allocation-id", str(ALLOCATION),
           "--timeout", "30", "--backoff", "0"]
    env = {**os.environ, "SKYPORTAL_TOKEN": server.token}
    # the first follow-up POST is stored at once and answered 20 s later: the kill lands in between
    server.delay[("POST", "/api/followup_request")] = 20.0
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    kill_9_at_followup(server, proc, 1)
    assert proc.returncode == -signal.SIGKILL
    killed = server.followups[0]["obj_id"]
    assert (killed, "followup", "sending") in open_actions(state)  # the intent was recorded before the POST
    server.delay.clear()
    deadline = time.monotonic() + 90  # PostgreSQL: until the server has dropped the dead worker's lock
    while True:
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        if not open_actions(state) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert res.returncode == 0, res.stderr
    assert posts(server) == {f"ZTF24{i:03d}": 1 for i in range(3)}  # the killed one's POST was found, not repeated
    assert len(server.followups) == 3 and open_actions(state) == []
    followup_comments = [c for c in server.comments if "priority" in c["text"]]
    assert collections.Counter(c["obj_id"] for c in followup_comments) == {f"ZTF24{i:03d}": 1 for i in range(3)}
    n = len(server.requests)
    subprocess.run(cmd, env=env, capture_output=True, check=True, timeout=120)
    assert len(server.requests) == n


def test_the_stand_in_answers_like_skyportal(server):
    """The facts the scenarios rest on (spec: SkyPortal's handlers)."""
    import requests

    h = {"Authorization": f"token {server.token}"}
    api = server.url + "/api"
    r = requests.post(f"{api}/sources", json={"id": "ZTFx", "group_ids": [1]}, headers=h, timeout=5)
    assert r.status_code == 400 and r.json()["message"] == "RA/Declination must not be null for a new Obj"
    assert requests.head(f"{api}/sources/ZTFx", headers=h, timeout=5).status_code == 404
    assert requests.post(f"{api}/sources", json={"id": "ZTFx", "group_ids": [1], "ra": 1, "dec": 2}, headers=h,
                         timeout=5).json()["data"]["saved_to_groups"] == [1]
    assert requests.head(f"{api}/sources/ZTFx", headers=h, timeout=5).status_code == 200
    c1 = requests.post(f"{api}/sources/ZTFx/comments", json={"text": "t", "group_ids": [1]}, headers=h, timeout=5)
    c2 = requests.post(f"{api}/sources/ZTFx/comments", json={"text": "t", "group_ids": [1]}, headers=h, timeout=5)
    assert c2.json()["message"] == "Same comment already exists."
    assert c1.json()["data"]["comment_id"] == c2.json()["data"]["comment_id"]
    a = {"obj_id": "ZTFx", "origin": "o", "data": {"k": 1}, "group_ids": [1]}
    assert requests.post(f"{api}/sources/ZTFx/annotations", json=a, headers=h, timeout=5).status_code == 200
    again = requests.post(f"{api}/sources/ZTFx/annotations", json=a, headers=h, timeout=5)
    assert again.status_code == 400 and again.json()["message"] == "Annotation already exists"
    f = server.add_followup("ZTFx", 1, [1], {}, modified=dt.datetime(2024, 5, 1, 3, 4, 5))
    assert f["modified"] == "2024-05-01T03:04:05"  # isoformat(): no fraction when the microseconds are 0
    assert len(utcnow().isoformat()) in (19, 26)
    assert requests.get(f"{api}/followup_request", headers={"Authorization": "token nope"},
                        timeout=5).status_code == 401


def test_which_failures_may_have_taken_effect(server):
    """A refused connection never reached SkyPortal (a follow-up may be posted again at once); a timeout
    after sending may have (the follow-up waits for it to appear)."""
    import socket

    from btsbot_fast.autoscan.skyportal import SkyPortal, SkyPortalError

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with pytest.raises(SkyPortalError) as refused:
        SkyPortal(f"http://127.0.0.1:{closed}", server.token, timeout=1).call("POST", "/api/followup_request")
    assert refused.value.retryable and not refused.value.uncertain
    server.delay[("POST", "/api/followup_request")] = 1.0
    with pytest.raises(SkyPortalError) as late:
        SkyPortal(server.url, server.token, timeout=0.2).call("POST", "/api/followup_request", body={})
    assert late.value.retryable and late.value.uncertain
    server.down(60)
    with pytest.raises(SkyPortalError) as down:
        SkyPortal(server.url, server.token, timeout=1).call("GET", "/api/followup_request")
    assert down.value.status == 503 and down.value.retryable and down.value.uncertain
