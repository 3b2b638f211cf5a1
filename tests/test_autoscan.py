"""Autoscan against a real local HTTP server (tests/skyportal_server.py) and a real SQLite state:
decisions in jd order, idempotence, the exact SkyPortal requests, retries, dead letters, the token,
dry runs, the TOML config and the nightly report. (Real alerts, the command line and kill -9 restarts:
test_autoscan_cli.py; PostgreSQL: test_autoscan_postgres.py.)"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3

import pytest

pytest.importorskip("requests")

from skyportal_server import SkyPortalServer

from btsbot_fast.autoscan import Autoscan, AutoscanConfig, ConfigError, FollowupConfig, SkyPortalConfig, load_config
from btsbot_fast.autoscan.actions import same_followup
from btsbot_fast.autoscan.skyportal import SkyPortal
from btsbot_fast.autoscan.state import StateError

GROUP, ALLOCATION = 41, 7


def row(oid, candid, jd, score, mag=18.0, fid=1, status="ok", cand=True, ra=150.25, dec=2.5):
    """A result row as ``ScoreResult.as_dict()`` has it; ``cand`` is its BTS filter verdict (None: unknown)."""
    return {"objectId": oid, "candid": candid, "jd": jd, "magpsf": mag, "fid": fid,
            "score": score if status == "ok" else None, "status": status, "error": "", "source": "test",
            "bts_candidate": cand, "ra": ra, "dec": dec, "model": "btsbot", "model_version": "v1.0.1"}


@pytest.fixture()
def server():
    s = SkyPortalServer().start()
    yield s
    s.stop()


def make_config(tmp_path, policy="gt1", server=None, followup=False, decisions=True, trail=False, **sp):
    """Without ``trail``, no comments and annotations (the requests of the other actions stay countable)."""
    skyportal = None
    if server is not None:
        opts = {"timeout": 2.0, "max_attempts": 3, "backoff": 0.01, "comments": trail, "annotations": trail,
                "followup_grace": 60.0, **sp}
        skyportal = SkyPortalConfig(url=server.url, group_ids=(GROUP,), **opts)
    fu = FollowupConfig(allocation_id=ALLOCATION, target_group_ids=(GROUP,),
                        payload={"observation_type": "IFU", "priority": 3}, validity_days=3) if followup else None
    return AutoscanConfig(policy=policy, state=str(tmp_path / "state.sqlite"), skyportal=skyportal, followup=fu,
                          decisions=tmp_path / "decisions.jsonl" if decisions else None)


def run(cfg, batches, server=None, token=None, **kw):
    """Process the batches with one Autoscan; all decisions made."""
    out = []
    kw.setdefault("sleep", lambda s: None)
    with Autoscan(cfg, token=token if token is not None else (server.token if server else None), **kw) as scan:
        for b in batches:
            out += scan.process(b)
    return out


def decisions_file(tmp_path):
    p = tmp_path / "decisions.jsonl"
    return [json.loads(line) for line in p.read_text().splitlines()] if p.exists() else []


def db_rows(tmp_path, sql):
    with sqlite3.connect(tmp_path / "state.sqlite") as db:
        return db.execute(sql).fetchall()


# ------------------------------------------------------------------------------------------ decisions

def test_trigger_is_first_alert_in_jd_order_even_when_older_alerts_arrive_late(tmp_path):
    cfg = make_config(tmp_path, policy="gt2")
    with Autoscan(cfg) as scan:
        assert scan.process([row("ZTFa", 5, 2460000.9, 0.9)]) == []  # one alert: gt2 not yet
        # two older alerts arrive late, together: history jd .1, .3, .9 -> gt2 holds first at jd .3
        made = scan.process([row("ZTFa", 3, 2460000.3, 0.8, mag=18.4), row("ZTFa", 1, 2460000.1, 0.7)])
        assert [(d.objectId, d.candid, d.jd, d.score, d.magpsf) for d in made] == [
            ("ZTFa", 3, 2460000.3, 0.8, 18.4)]
        # an even older alert after the decision: nothing new, the recorded decision stays
        assert scan.process([row("ZTFa", 0, 2460000.0, 0.99)]) == []
    assert db_rows(tmp_path, "SELECT object_id, policy, candid FROM decisions") == [("ZTFa", "gt2", 3)]
    assert db_rows(tmp_path, "PRAGMA journal_mode") == [("wal",)]
    (line,) = decisions_file(tmp_path)
    assert {k: line[k] for k in ("objectId", "policy", "candid", "jd", "score", "magpsf", "actions")} == {
        "objectId": "ZTFa", "policy": "gt2", "candid": 3, "jd": 2460000.3, "score": 0.8, "magpsf": 18.4, "actions": []}
    assert line["live"] is False and "latency_s" not in line


def test_policies_by_hand_in_one_batch_out_of_order(tmp_path):
    # (oid, candid, jd, score, mag); rows deliberately not in jd order
    alerts = [("A", 13, 3.0, 0.7, 18.2), ("A", 11, 1.0, 0.6, 19.5), ("A", 12, 2.0, 0.4, 18.8),
              ("B", 21, 1.5, 0.55, 18.0), ("B", 22, 2.5, 0.9, 17.9),
              ("C", 31, 1.0, 0.95, 17.1), ("C", 32, 2.0, 0.2, 17.2),
              ("D", 41, 1.0, 0.5, 18.9), ("D", 42, 4.0, 0.51, 18.7)]
    rows = [row(o, c, 2460000 + j, s, m) for o, c, j, s, m in alerts]
    expected = {  # worked out by hand with score > threshold (D's 0.5 does not count)
        "gt1": {"A": 11, "B": 21, "C": 31, "D": 42},
        "gt2": {"A": 13, "B": 22},
        "bts_p1": {"B": 22},  # A: only jd 3 is > .5 and < 19; D: one counted alert
        "bts_p2": {"B": 22},
        "prod_p1": {"B": 22, "C": 31},
        "prod_p2": {"B": 22, "C": 31},
        "gt1@0.6": {"A": 13, "B": 22, "C": 31},  # A's 0.6 is not > 0.6
    }
    for policy, want in expected.items():
        d = tmp_path / policy.replace("@", "_")
        d.mkdir()
        made = run(make_config(d, policy=policy, decisions=False), [rows])
        assert {m.objectId: m.candid for m in made} == want, policy
        assert all(m.policy == policy for m in made)


def test_same_alert_twice_changes_nothing(tmp_path, server):
    cfg = make_config(tmp_path, server=server)
    batch = [row("ZTFa", 1, 2460000.1, 0.9), row("ZTFb", 2, 2460000.2, 0.1)]
    with Autoscan(cfg, token=server.token) as scan:
        assert len(scan.process(batch)) == 1
        assert scan.process(batch) == [] and scan.process(batch[:1] * 3) == []
        assert scan.stats.new_alerts == 2 and scan.stats.duplicates == 5
    assert db_rows(tmp_path, "SELECT count(*) FROM alerts") == [(2,)]
    assert len(server.calls("POST", "/api/sources")) == 1


def test_failed_rows_are_recorded_and_a_later_score_counts(tmp_path):
    cfg = make_config(tmp_path, policy="gt1")
    with Autoscan(cfg) as scan:
        assert scan.process([row("ZTFa", 1, 2460000.1, None, status="bad_cutout"),
                             {"objectId": None, "candid": None, "status": "decode_error"}]) == []
        assert (scan.stats.failed, scan.stats.unusable) == (1, 1)
        assert scan.stats.failure_messages == {"bad_cutout": 1, "no objectId or candid": 1}
        # the same candid scored later (e.g. after a fix) is taken
        (d,) = scan.process([row("ZTFa", 1, 2460000.1, 0.7)])
        assert d.candid == 1 and d.score == 0.7
    assert db_rows(tmp_path, "SELECT candid, status, score FROM alerts") == [(1, "ok", 0.7)]


# ------------------------------------------------------------------------------------------ acting

def test_save_and_followup_requests_are_exact(tmp_path, server):
    cfg = make_config(tmp_path, server=server, followup=True, ignore_if_in_group_ids={str(GROUP): (1, 2)})
    t_decision = 1_700_000_000.0
    made = run(cfg, [[row("ZTF24aaaaaaa", 1, 2460000.5, 0.97, mag=18.1)]], server=server, clock=lambda: t_decision)
    assert [r.method + " " + r.path for r in server.requests] == [
        "POST /api/sources", "GET /api/followup_request", "POST /api/followup_request"]
    save, get, post = server.requests
    for r in server.requests:
        assert r.headers["Authorization"] == f"token {server.token}"
    assert save.headers["Content-Type"] == "application/json"
    assert save.body == {"id": "ZTF24aaaaaaa", "group_ids": [GROUP], "origin": "btsbot-fast", "ra": 150.25,
                         "dec": 2.5, "ignore_if_in_group_ids": {str(GROUP): [1, 2]}}
    assert get.query == {"sourceID": ["ZTF24aaaaaaa"], "pageNumber": ["1"], "numPerPage": ["100"]}
    assert get.body is None
    start = dt.datetime(2023, 11, 14, 22, 13, 20)  # t_decision in UTC
    assert post.body == {"obj_id": "ZTF24aaaaaaa", "allocation_id": ALLOCATION, "target_group_ids": [GROUP],
                         "payload": {"observation_type": "IFU", "priority": 3,
                                     "start_date": start.isoformat(timespec="microseconds"),
                                     "end_date": (start + dt.timedelta(days=3)).isoformat(timespec="microseconds")}}
    assert server.sources == {"ZTF24aaaaaaa": {GROUP}} and len(server.followups) == 1
    (d,) = made
    assert [(a["kind"], a["state"], a["attempts"]) for a in d.actions] == [("save", "done", 1), ("followup", "done", 1)]
    assert d.actions[0]["result"] == {"saved_to_groups": [GROUP]}
    assert d.actions[1]["result"] == {"id": 1, "status": "submitted"}
    assert decisions_file(tmp_path)[0]["actions"] == d.actions


def test_rerun_and_replay_send_nothing_new(tmp_path, server):
    cfg = make_config(tmp_path, server=server, followup=True)
    night = [row(f"ZTF{i}", 100 + i, 2460000.5 + i / 100, 0.9) for i in range(5)]
    run(cfg, [night[:3], night[3:]], server=server)
    n = len(server.requests)
    assert n == 15  # 5 x (save, GET, POST)
    run(cfg, [night], server=server)  # replay the night
    run(cfg, [night[::-1]], server=server)  # and again, in another order
    assert len(server.requests) == n
    assert {o: len(g) for o, g in server.sources.items()} == {f"ZTF{i}": 1 for i in range(5)}
    assert sorted(f["obj_id"] for f in server.followups) == [f"ZTF{i}" for i in range(5)]
    assert len(decisions_file(tmp_path)) == 5


def test_existing_followup_request_is_not_repeated(tmp_path, server):
    # same allocation, groups and payload but another priority and dates: Kowalski's rule says "exists"
    server.followups.append({"id": 99, "obj_id": "ZTFa", "allocation_id": ALLOCATION, "target_group_ids": [GROUP],
                             "payload": {"observation_type": "IFU", "priority": 5, "start_date": "2020-01-01"},
                             "status": "completed"})
    # a different payload or allocation does not count
    server.followups.append({"id": 98, "obj_id": "ZTFb", "allocation_id": ALLOCATION, "target_group_ids": [GROUP],
                             "payload": {"observation_type": "Mix 'n Match", "priority": 3}, "status": "submitted"})
    cfg = make_config(tmp_path, server=server, followup=True)
    made = run(cfg, [[row("ZTFa", 1, 2460000.1, 0.9), row("ZTFb", 2, 2460000.1, 0.9)]], server=server)
    assert [r.body["obj_id"] for r in server.calls("POST", "/api/followup_request")] == ["ZTFb"]
    by = {d.objectId: d.actions[1] for d in made}
    assert by["ZTFa"]["state"] == "done" and by["ZTFa"]["result"] == {"existing": True, "id": 99,
                                                                      "status": "completed"}
    assert by["ZTFb"]["result"] == {"id": 3, "status": "submitted"}


def test_same_followup_comparison():
    request = {"allocation_id": 7, "target_group_ids": [1, 2], "payload": {"observation_type": "IFU", "priority": 3,
                                                                           "start_date": "a", "end_date": "b"}}
    base = {"allocation_id": 7, "target_groups": [{"id": 2}, {"id": 1}], "payload": {"observation_type": "IFU"}}
    assert same_followup(base, request)
    assert same_followup({**base, "payload": {"observation_type": "IFU", "priority": 1, "end_date": "z"}}, request)
    assert not same_followup({**base, "allocation_id": 8}, request)
    # Kowalski: target groups match on any overlap; "advanced" is left out like priority and dates
    assert same_followup({**base, "target_groups": [{"id": 1}, {"id": 9}]}, request)
    assert not same_followup({**base, "target_groups": [{"id": 9}]}, request)
    assert same_followup({**base, "payload": {"observation_type": "IFU", "advanced": {"exposure": 1}}}, request)
    # a key only the stored payload has (a facility's rewrite) does not tell them apart; a value does
    assert same_followup({**base, "payload": {"observation_type": "IFU", "exposure_time": 300}}, request)
    assert not same_followup({**base, "payload": {"observation_type": "Mix 'n Match"}}, request)
    assert same_followup({**base, "payload": "unreadable"}, request)  # conservative: it blocks
    assert same_followup({"allocation_id": 7, "target_group_ids": [2, 1], "payload": {"observation_type": "IFU"}},
                         request)


def test_ignored_followup_counts_as_done(tmp_path, server):
    server.ignore_followup_for.add("ZTFa")
    made = run(make_config(tmp_path, server=server, followup=True), [[row("ZTFa", 1, 2460000.1, 0.9)]], server=server)
    fu = made[0].actions[1]
    assert fu["state"] == "done" and fu["attempts"] == 1
    assert fu["result"] == {"ignored": True, "id": None, "message": "not_if_classified: source is classified"}
    assert len(server.calls("POST", "/api/followup_request")) == 1
    assert db_rows(tmp_path, "SELECT count(*) FROM dead_letters") == [(0,)]
    run(make_config(tmp_path, server=server, followup=True), [[row("ZTFa", 2, 2460000.2, 0.9)]], server=server)
    assert len(server.calls("POST", "/api/followup_request")) == 1  # done means done


def test_5xx_burst_is_retried_with_backoff(tmp_path, server):
    server.fail("POST", "/api/sources", 503, times=2)
    sleeps = []
    cfg = make_config(tmp_path, server=server, max_attempts=4, backoff=0.5)
    made = run(cfg, [[row("ZTFa", 1, 2460000.1, 0.9)]], server=server, sleep=sleeps.append)
    assert len(server.calls("POST", "/api/sources")) == 3 and sleeps == [0.5, 1.0]
    assert made[0].actions[0]["state"] == "done" and made[0].actions[0]["attempts"] == 3
    assert server.sources == {"ZTFa": {GROUP}}


def test_exhausted_retries_leave_everything_pending_for_the_next_run(tmp_path, server):
    server.fail("POST", "/api/sources", 500, times=3)  # max_attempts = 3: SkyPortal "down" for this run
    cfg = make_config(tmp_path, server=server, followup=True)
    with Autoscan(cfg, token=server.token, sleep=lambda s: None) as scan:
        made = scan.process([row("ZTFa", 1, 2460000.1, 0.9), row("ZTFb", 2, 2460000.2, 0.9)])
        assert "still pending after 3 attempts" in scan.stats.unreachable
    by = {d.objectId: d.actions for d in made}
    assert [(a["kind"], a["state"]) for a in by["ZTFa"]] == [("save", "pending"), ("followup", "pending")]
    assert by["ZTFa"][0]["http_status"] == 500 and by["ZTFa"][0]["attempts"] == 3
    # the sweep stopped at the first action SkyPortal did not take: ZTFb was not even tried
    assert [(a["kind"], a["state"], a["attempts"]) for a in by["ZTFb"]] == [("save", "pending", 0),
                                                                            ("followup", "pending", 0)]
    assert len(server.calls("POST", "/api/sources")) == 3 and server.followups == []
    assert db_rows(tmp_path, "SELECT count(*) FROM dead_letters") == [(0,)]
    # the next run sends all of it, once
    resumed = run(cfg, [[]], server=server)
    assert sorted(d.objectId for d in resumed) == ["ZTFa", "ZTFb"]
    assert all(a["state"] == "done" for d in resumed for a in d.actions)
    assert sorted(f["obj_id"] for f in server.followups) == ["ZTFa", "ZTFb"]
    assert len(server.calls("POST", "/api/sources")) == 5


def test_a_permanent_refusal_dead_letters_with_its_reason(tmp_path, server):
    # a table without ra/dec on a SkyPortal that does not know the object: 400, which no retry changes
    cfg = make_config(tmp_path, server=server, followup=True)
    made = run(cfg, [[row("ZTFa", 1, 2460000.1, 0.9, ra=None, dec=None), row("ZTFb", 2, 2460000.2, 0.9)]],
               server=server)
    by = {d.objectId: d.actions for d in made}
    assert [(a["kind"], a["state"]) for a in by["ZTFa"]] == [("save", "failed"), ("followup", "failed")]
    assert by["ZTFa"][0]["http_status"] == 400 and by["ZTFa"][0]["attempts"] == 1
    assert "RA/Declination must not be null for a new Obj" in by["ZTFa"][0]["error"]
    assert by["ZTFa"][1]["error"] == "not sent: saving the source failed"
    assert [(a["kind"], a["state"]) for a in by["ZTFb"]] == [("save", "done"), ("followup", "done")]
    dead = db_rows(tmp_path, "SELECT object_id, kind, http_status FROM dead_letters ORDER BY id")
    assert dead == [("ZTFa", "save", 400), ("ZTFa", "followup", None)]
    # a later run does not retry dead letters by itself; retry_failed() puts them back (here: the object
    # became known meanwhile, e.g. posted by a broker)
    run(cfg, [[]], server=server)
    assert len(server.calls("POST", "/api/sources")) == 2
    server.objects["ZTFa"] = {"ra": 1.0, "dec": 2.0}
    with Autoscan(cfg, token=server.token, sleep=lambda s: None) as scan:
        assert scan.retry_failed() == 2
        (d,) = scan.resume()
    assert d.resumed and [(a["kind"], a["state"]) for a in d.actions] == [("save", "done"), ("followup", "done")]
    assert len(server.followups_of("ZTFa")) == 1


def test_bad_token_is_not_retried_and_never_shown(tmp_path, server, capfd):
    secret = "s3cr3t-not-this-one"
    cfg = make_config(tmp_path, server=server, followup=True)
    with Autoscan(cfg, token=secret, sleep=lambda s: None) as scan:
        made = scan.process([row("ZTFa", 1, 2460000.1, 0.9), row("ZTFb", 2, 2460000.2, 0.9)])
        assert "refused the token (HTTP 401)" in scan.stats.auth_refused
        assert scan.store.meta("skyportal_token_refused_at") is not None
    # one request, then nothing more: every action stays pending, nothing is dead-lettered
    assert len(server.requests) == 1 and server.requests[0].headers["Authorization"] == f"token {secret}"
    save, fu = made[0].actions
    assert save["state"] == "pending" and save["http_status"] == 401 and save["attempts"] == 1
    assert "401" in save["error"] and "SKYPORTAL_TOKEN" in save["error"]
    assert fu["state"] == "pending" and [a["state"] for a in made[1].actions] == ["pending", "pending"]
    assert db_rows(tmp_path, "SELECT count(*) FROM dead_letters") == [(0,)]
    out, err = capfd.readouterr()
    stored = (tmp_path / "state.sqlite").read_bytes() + (tmp_path / "decisions.jsonl").read_bytes()
    for text in (out, err, json.dumps([d.as_dict() for d in made]), repr(SkyPortal(server.url, secret))):
        assert secret not in text
    assert secret.encode() not in stored
    # the next run with the good token sends everything, and the note is cleared
    with Autoscan(cfg, token=server.token, sleep=lambda s: None) as scan:
        resumed = scan.resume()
        assert scan.store.meta("skyportal_token_refused_at") is None and scan.stats.auth_refused is None
    assert all(a["state"] == "done" for d in resumed for a in d.actions) and len(server.followups) == 2


def test_slow_answer_beyond_timeout_does_not_duplicate_the_followup(tmp_path, server):
    # the POST takes effect, but the answer comes after the client's timeout: the retry's GET finds it
    server.delay[("POST", "/api/followup_request")] = 1.0
    cfg = make_config(tmp_path, server=server, followup=True, timeout=0.3)
    made = run(cfg, [[row("ZTFa", 1, 2460000.1, 0.9)]], server=server)
    fu = made[0].actions[1]
    assert fu["state"] == "done" and fu["attempts"] == 2
    assert fu["result"] == {"recovered": True, "id": 1, "status": "submitted"}
    assert len(server.calls("POST", "/api/followup_request")) == 1 and len(server.followups) == 1
    assert [r.method for r in server.calls(path="/api/followup_request")] == ["GET", "POST", "GET"]


def test_dry_run_sends_nothing_and_leaves_the_state(tmp_path, server):
    cfg = make_config(tmp_path, server=server, followup=True)
    run(cfg, [[row("ZTFa", 1, 2460000.1, 0.9)]], server=server)
    before = db_rows(tmp_path, "SELECT count(*) FROM alerts") + db_rows(tmp_path, "SELECT count(*) FROM actions")
    n = len(server.requests)
    made = run(cfg, [[row("ZTFb", 2, 2460000.1, 0.9), row("ZTFb", 3, 2460000.2, 0.9)]], dry_run=True, token="")
    assert len(server.requests) == n
    assert [(a["kind"], a["state"]) for a in made[0].actions] == [("save", "pending"), ("followup", "pending")]
    after = db_rows(tmp_path, "SELECT count(*) FROM alerts") + db_rows(tmp_path, "SELECT count(*) FROM actions")
    assert before == after == [(1,), (2,)]
    assert decisions_file(tmp_path)[-1]["dry_run"] is True
    # the real run afterwards still acts on ZTFb
    run(cfg, [[row("ZTFb", 2, 2460000.1, 0.9)]], server=server)
    assert "ZTFb" in server.sources


def test_one_process_per_sqlite_state(tmp_path):
    cfg = make_config(tmp_path)
    with Autoscan(cfg):
        with pytest.raises(StateError, match="in use by another autoscan process"):
            Autoscan(cfg)
    Autoscan(cfg).close()  # released on close


# ------------------------------------------------------------------------------------------ config, report

def test_toml_config(tmp_path, server, monkeypatch):
    (tmp_path / "token").write_text(server.token + "\n")
    (tmp_path / "token").chmod(0o600)  # a token file others can read is refused
    text = f"""
policy = "bts_p1"
state = "state.sqlite"
decisions = "out/decisions.jsonl"
[skyportal]
url = "{server.url}/"
group_ids = [{GROUP}]
ignore_if_in_group_ids = {{ {GROUP} = [3] }}
token_file = "token"
max_attempts = 2
[followup]
allocation_id = {ALLOCATION}
payload = {{ observation_type = "IFU", priority = 2 }}
validity_days = 2
"""
    (tmp_path / "autoscan.toml").write_text(text)
    cfg = load_config(tmp_path / "autoscan.toml")
    assert cfg.policy == "bts_p1" and cfg.state == str(tmp_path / "state.sqlite")
    assert cfg.skyportal.url == server.url and cfg.skyportal.ignore_if_in_group_ids == {str(GROUP): (3,)}
    assert cfg.followup.target_group_ids == (GROUP,)
    assert cfg.followup.payload == {"observation_type": "IFU", "priority": 2}
    monkeypatch.delenv("SKYPORTAL_TOKEN", raising=False)
    from btsbot_fast.autoscan.report import summary

    with Autoscan.from_toml(tmp_path / "autoscan.toml", live=True) as scan:
        (d,) = scan.process([row("ZTFa", 1, 2460000.1, 0.9, mag=18.5), row("ZTFa", 2, 2460000.2, 0.8, mag=18.9)])
        latency = summary(scan)["latency"]
    assert d.candid == 2 and d.live and d.latency_s > 0
    assert latency["n"] == 1 and latency["median_s"] == pytest.approx(d.latency_s)
    # the trail is on by default: a comment on the save, the annotation (read first), the follow-up's comment
    assert [f"{r.method} {r.path}" for r in server.requests] == [
        "POST /api/sources", "POST /api/sources/ZTFa/comments", "GET /api/sources/ZTFa/annotations",
        "POST /api/sources/ZTFa/annotations", "GET /api/followup_request", "POST /api/followup_request",
        "POST /api/sources/ZTFa/comments"]
    assert [c["text"] for c in server.comments] == [
        "Saved by btsbot-fast autoscan (policy bts_p1): BTSbot score 0.8000 at candid 2, model btsbot v1.0.1.",
        "Follow-up requested by btsbot-fast autoscan (policy bts_p1) (priority: 2)"]
    assert [c["group_ids"] for c in server.comments] == [[GROUP], [GROUP]]
    (note,) = server.annotations
    assert note["origin"] == "btsbot-fast:bts_p1" and note["data"] == {
        "btsbot_max_score": 0.9, "btsbot_latest_score": 0.8, "btsbot_alerts_above_0.5": 2,
        "btsbot_trigger_candid": 2, "btsbot_trigger_score": 0.8, "btsbot_model": "btsbot v1.0.1"}
    line = json.loads((tmp_path / "out" / "decisions.jsonl").read_text())
    assert line["latency_s"] == pytest.approx(d.latency_s, abs=1e-3)

    def bad(extra, match):
        (tmp_path / "bad.toml").write_text(extra)
        with pytest.raises(ConfigError, match=match):
            load_config(tmp_path / "bad.toml")

    bad(f'policy = "gt1"\nstate = "s"\n[skyportal]\nurl = "{server.url}"\ngroup_ids = [1]\ntoken = "abc"\n',
        "secrets never go in the config file")
    bad('policy = "gt1"\nstate = "s"\ntoken = "abc"\n', "secrets never go")
    bad('policy = "gt9x"\nstate = "s"\n', "unknown policy")
    bad('policy = "gt1"\nstate = "s"\nsate = 1\n', "unknown key")
    bad('policy = "gt1"\nstate = "s"\n[followup]\nallocation_id = 1\n', "need SkyPortal settings")
    bad(f'policy = "gt1"\nstate = "s"\n[skyportal]\nurl = "{server.url}"\ngroup_ids = []\n', "at least one group")
    monkeypatch.delenv("SKYPORTAL_TOKEN", raising=False)
    (tmp_path / "nt.toml").write_text(
        f'policy = "gt1"\nstate = "s"\n[skyportal]\nurl = "{server.url}"\ngroup_ids = [1]\n')
    with pytest.raises(ConfigError, match="no SkyPortal token"):
        Autoscan.from_toml(tmp_path / "nt.toml")


def test_report(tmp_path, server):
    pytest.importorskip("matplotlib")
    from btsbot_fast.autoscan.report import write_report

    server.fail("POST", "/api/sources", 503, times=3)
    cfg = make_config(tmp_path, server=server, policy="gt1")
    batch = [row("ZTFa", 1, 2460000.7, 0.9), row("ZTFb", 2, 2460000.8, 0.95), row("ZTFc", 3, 2460000.9, 0.2),
             row("ZTFc", 4, 2460000.95, None, status="bad_cutout")]
    with Autoscan(cfg, token=server.token, sleep=lambda s: None) as scan:
        scan.process(batch)
        assert scan.process(batch[:1]) == []  # SkyPortal failed moments ago: recorded, not sent
        scan.resume()  # sends now
        data = write_report(scan, tmp_path / "report")
    assert data["alerts"] == {"rows": 5, "scored": 4, "failed": 1, "unusable": 0, "new": 4, "already_seen": 1}
    assert data["sources"] == 3 and data["decisions"] == {"gt1": 2}
    # ZTFa stayed pending through the first batch's outage (ZTFb waited behind it); both went out with the next
    assert data["actions"] == {"save": {"done": 2}} and data["failures"]["actions_failed"] == 0
    assert data["dead_letters_in_state"] == 0 and data["latency"]["n"] == 0 and data["sending_stopped"] is None
    assert data["actions_queued_in_state"] == 0 and data["actions_planned_late"] == {}
    assert data["night"] == {"first_jd": 2460000.7, "last_jd": 2460000.9}
    assert json.loads((tmp_path / "report" / "summary.json").read_text()) == data
    assert (tmp_path / "report" / "decisions.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"



def test_report_of_a_replay_with_no_new_alert(tmp_path, server):
    """A replayed night adds no alert and no decision: the report still writes (no time axis to draw)."""
    pytest.importorskip("matplotlib")
    from btsbot_fast.autoscan.report import write_report

    cfg = make_config(tmp_path, server=server, policy="gt1")
    batch = [row("ZTFa", 1, 2460000.7, 0.9)]
    with Autoscan(cfg, token=server.token, sleep=lambda s: None) as scan:
        scan.process(batch)
    with Autoscan(cfg, token=server.token, sleep=lambda s: None) as replay:
        replay.process(batch)
        data = write_report(replay, tmp_path / "report")
    assert data["alerts"]["new"] == 0 and data["alerts"]["already_seen"] == 1
    assert data["decisions"] == {} and data["night"] is None
    assert (tmp_path / "report" / "decisions.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
