"""Autoscan's sender and Kowalski's follow-up rules against the local SkyPortal stand-in
(tests/skyportal_server.py) and a real SQLite state: a background sender that ``process`` never waits
for, ``--send-pending``, failed requests older than 12 h, priority updates (PUT), the follow-up
constraints, and actions planned for decisions taken before SkyPortal or ``[followup]`` was configured."""

from __future__ import annotations

import collections
import datetime as dt
import os
import subprocess
import sys
import time

import pytest

pytest.importorskip("requests")

from skyportal_server import SkyPortalServer, utc_iso
from test_autoscan import ALLOCATION, GROUP, db_rows, decisions_file, make_config, row, run

from btsbot_fast.autoscan import Autoscan, ConfigError, FollowupConfig, load_config
from btsbot_fast.autoscan.actions import followup_step


@pytest.fixture()
def server():
    s = SkyPortalServer().start()
    yield s
    s.stop()


def _wait(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# ------------------------------------------------------------------------------------------ the sender

def test_background_sender_rides_out_an_outage_while_process_only_records(tmp_path, server):
    cfg = make_config(tmp_path, server=server, followup=True, max_attempts=30, backoff=0.05)
    server.down(1.0)
    night = [row(f"ZTF{i}", 100 + i, 2460000.5 + i / 100, 0.9) for i in range(6)]
    with Autoscan(cfg, token=server.token) as scan:
        scan.start_sender(poll=0.1)
        made = [d for b in (night[:3], night[3:]) for d in scan.process(b)]
        # process returned with the intents durable, before SkyPortal took anything
        assert [a["state"] for d in made for a in d.actions] == ["pending"] * 12
        assert server.sources == {}
        _wait(lambda: len(server.followups) == 6)
        _wait(lambda: scan.store.open_action_count() == 0)
        assert scan.stop_sender() == 0
        assert scan.stats.decisions == {"gt1": 6} and scan.stats.actions_in("done") == 12
    # during the outage only the oldest action was tried (one request per backoff step), then each once
    saves = collections.Counter(r.body["id"] for r in server.calls("POST", "/api/sources"))
    assert saves["ZTF0"] > 1 and all(saves[f"ZTF{i}"] == 1 for i in range(1, 6))
    assert collections.Counter(r.body["obj_id"] for r in server.calls("POST", "/api/followup_request")) == {
        f"ZTF{i}": 1 for i in range(6)}
    assert db_rows(tmp_path, "SELECT count(*) FROM dead_letters") == [(0,)]
    lines = decisions_file(tmp_path)
    assert sorted(x["objectId"] for x in lines) == [f"ZTF{i}" for i in range(6)]
    assert all([a["state"] for a in x["actions"]] == ["done", "done"] for x in lines)


def test_a_waiting_followup_is_looked_at_once_a_minute_not_every_poll(tmp_path, server):
    # the POST's answer is lost (SkyPortal answers 3 s late, the client gives up after 1 s) and the request
    # is not listed yet: the follow-up waits out its grace window (90 s here). The background sender polls
    # every 20 ms, but reads the follow-up list for it at most once a minute, and when the window ends.
    server.delay[("POST", "/api/followup_request")] = 3.0
    server.followups_unlisted = True
    t0 = time.time()
    now = [t0]
    cfg = make_config(tmp_path, server=server, followup=True, timeout=1.0, backoff=0.0, followup_grace=90.0)

    def gets():
        return len(server.calls("GET", "/api/followup_request"))

    with Autoscan(cfg, token=server.token, clock=lambda: now[0]) as scan:
        scan.start_sender(poll=0.02)
        scan.process([row("ZTFa", 1, 2460000.1, 0.9)])
        _wait(lambda: gets() == 2)  # read, POST (answer lost), read again: not listed, so it waits
        time.sleep(1.0)  # some 50 polls of the sender
        assert gets() == 2 and len(server.calls("POST", "/api/followup_request")) == 1
        now[0] = t0 + 61  # a minute on: looked at once more, still waiting
        _wait(lambda: gets() == 3)
        time.sleep(0.5)
        assert gets() == 3
        now[0] = t0 + 75  # 14 s later: not again
        time.sleep(0.5)
        assert gets() == 3
        # SkyPortal lists it now; the grace window ends at t0 + 90, before the next minute
        server.followups_unlisted = False
        now[0] = t0 + 91
        _wait(lambda: scan.store.open_action_count() == 0)
        assert scan.stop_sender() == 0
    assert gets() == 4
    assert len(server.calls("POST", "/api/followup_request")) == 1 and len(server.followups) == 1
    fu = [a for a in decisions_file(tmp_path)[-1]["actions"] if a["kind"] == "followup"]
    assert fu and fu[0]["state"] == "done" and fu[0]["result"]["recovered"] is True


def test_stopped_sender_leaves_the_queue_to_send_pending(tmp_path, server):
    cfg = make_config(tmp_path, server=server, followup=True, max_attempts=30, backoff=0.05)
    server.down(3600)
    with Autoscan(cfg, token=server.token) as scan:
        scan.start_sender(poll=0.1)
        scan.process([row("ZTFa", 1, 2460000.1, 0.9), row("ZTFb", 2, 2460000.2, 0.9)])
        _wait(lambda: len(server.requests) >= 2)
        assert scan.stop_sender() == 4  # stopped between retries: nothing lost, nothing dead-lettered
    assert db_rows(tmp_path, "SELECT count(*) FROM dead_letters") == [(0,)]
    server.down_until = 0.0
    env = {**os.environ, "SKYPORTAL_TOKEN": server.token}
    cmd = [sys.executable, "-m", "btsbot_fast", "autoscan", "--send-pending", str(tmp_path / "state.sqlite"),
           "--skyportal-url", server.url, "--backoff", "0"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "4 actions done, 0 failed, 0 still pending" in res.stderr and server.token not in res.stderr
    assert sorted(f["obj_id"] for f in server.followups) == ["ZTFa", "ZTFb"]
    assert collections.Counter(r.body["id"] for r in server.calls("POST", "/api/sources"))["ZTFb"] == 1
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)  # nothing left to send
    assert res.returncode == 0 and "0 actions done, 0 failed, 0 still pending" in res.stderr
    assert len(server.followups) == 2
    bad = subprocess.run(cmd[:6], env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--send-pending needs --skyportal-url" in bad.stderr


def test_background_sender_backs_off_while_the_token_is_refused(tmp_path, server):
    cfg = make_config(tmp_path, server=server, followup=True, max_attempts=3, backoff=0.01)
    server.revoke()
    with Autoscan(cfg, token=server.token) as scan:
        scan.start_sender(poll=0.05)
        scan.process([row(f"ZTF{i}", i, 2460000.1 + i / 100, 0.9) for i in range(3)])
        time.sleep(1.5)
        # one request per sweep (the first 401 ends it), sweeps ever less often: 0.05, 0.1, 0.2, 0.4, 0.8 s
        assert 2 <= len(server.requests) <= 6, len(server.requests)
        assert scan.stats.auth_refused is not None and scan.store.open_action_count() == 6
        assert scan.store.meta("skyportal_token_refused_at") is not None
        server.tokens = {server.token}  # the token is accepted again (e.g. an expired session renewed)
        _wait(lambda: scan.store.open_action_count() == 0, timeout=10)
        assert scan.stop_sender() == 0
    assert sorted(f["obj_id"] for f in server.followups) == ["ZTF0", "ZTF1", "ZTF2"]
    assert db_rows(tmp_path, "SELECT count(*) FROM dead_letters") == [(0,)]


def test_a_failed_sender_stops_the_next_batch(tmp_path, server):
    # the sender's state becomes unusable (an injected disk error): the next process() raises (the stream
    # then stops without committing) instead of queueing actions nobody sends
    import sqlite3

    from btsbot_fast.autoscan import StateError

    def disk_error():
        raise sqlite3.OperationalError("disk I/O error")

    with Autoscan(make_config(tmp_path, server=server), token=server.token) as scan:
        scan.start_sender(poll=0.05)
        scan._thread.store.open_actions = disk_error
        scan._thread.hand([])
        _wait(lambda: scan._thread.error is not None)
        with pytest.raises(StateError, match="the autoscan sender failed"):
            scan.process([row("ZTFa", 1, 2460000.1, 0.9)])
        with pytest.raises(StateError, match="the autoscan sender failed"):
            scan.stop_sender()


# ------------------------------------------------------------------------------------------ Kowalski's rules

def _existing(i, oid, status, modified, priority=3, observation_type="IFU"):
    return {"id": i, "obj_id": oid, "allocation_id": ALLOCATION, "target_group_ids": [GROUP],
            "payload": {"observation_type": observation_type, "priority": priority}, "status": status,
            "modified": utc_iso(modified)}


def test_failed_request_blocks_for_12_hours_only(tmp_path, server):
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    server.followups += [_existing(1, "ZTFold", "failed to submit: SEDM down", now - dt.timedelta(hours=13)),
                         _existing(2, "ZTFnew", "failed to submit: SEDM down", now - dt.timedelta(hours=11)),
                         _existing(3, "ZTFpend", "pending submission", now),
                         _existing(4, "ZTFrej", "rejected: not observable", now)]
    cfg = make_config(tmp_path, server=server, followup=True)
    oids = ["ZTFold", "ZTFnew", "ZTFpend", "ZTFrej"]
    made = run(cfg, [[row(o, i, 2460000.1, 0.9) for i, o in enumerate(oids)]], server=server)
    # an old failure and a rejection do not count; a pending submission does (it may still be submitted)
    assert sorted(r.body["obj_id"] for r in server.calls("POST", "/api/followup_request")) == ["ZTFold", "ZTFrej"]
    by = {d.objectId: d.actions[1] for d in made}
    assert by["ZTFpend"]["result"] == {"existing": True, "id": 3, "status": "pending submission"}
    assert by["ZTFold"]["result"] == {"id": 5, "status": "submitted"}
    # a failure younger than 12 h blocks, but is no request that counts: ours waits, not done
    assert by["ZTFnew"]["state"] == "pending" and "failed" in by["ZTFnew"]["error"]
    # 2 hours later the failure has expired: a new request goes out, once
    later = time.time() + 2 * 3600
    run(cfg, [[]], server=server, clock=lambda: later)
    run(cfg, [[]], server=server, clock=lambda: later)
    assert [f["status"] for f in server.followups_of("ZTFnew")] == ["failed to submit: SEDM down", "submitted"]


def test_higher_priority_updates_a_submitted_request(tmp_path, server):
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    server.followups += [_existing(1, "ZTFlow", "submitted", now, priority=1),
                         _existing(2, "ZTFhigh", "submitted", now, priority=5),
                         _existing(3, "ZTFdone", "completed", now, priority=1)]
    cfg = make_config(tmp_path, server=server, followup=True)  # priority 3
    made = run(cfg, [[row(o, i, 2460000.1, 0.9) for i, o in enumerate(["ZTFlow", "ZTFhigh", "ZTFdone"])]],
               server=server)
    (put,) = server.calls("PUT")
    assert put.path == "/api/followup_request/1"
    assert put.body == {"payload": {"observation_type": "IFU", "priority": 3}, "obj_id": "ZTFlow",
                        "allocation_id": ALLOCATION}
    assert server.followups_of("ZTFlow")[0]["payload"]["priority"] == 3
    assert server.calls("POST", "/api/followup_request") == []
    by = {d.objectId: d.actions[1] for d in made}
    assert by["ZTFlow"]["state"] == "done" and by["ZTFlow"]["result"] == {"updated": True, "id": 1, "priority": 3}
    assert by["ZTFhigh"]["result"] == {"existing": True, "id": 2, "status": "submitted"}
    assert by["ZTFdone"]["result"] == {"existing": True, "id": 3, "status": "completed"}
    # a retry after a lost PUT answer finds the priority raised: nothing more
    request = {"allocation_id": ALLOCATION, "target_group_ids": [GROUP],
               "payload": {"observation_type": "IFU", "priority": 3, "start_date": "x", "end_date": "y"}}
    listed = [{**f, "target_groups": [{"id": GROUP}]} for f in server.followups_of("ZTFlow")]
    assert followup_step(listed, request, now)[0] == "exists"


def test_followup_constraints_pass_through_from_the_toml(tmp_path, server, monkeypatch):
    monkeypatch.setenv("SKYPORTAL_TOKEN", server.token)
    (tmp_path / "a.toml").write_text(f"""
policy = "gt1"
state = "state.sqlite"
[skyportal]
url = "{server.url}"
group_ids = [{GROUP}]
[followup]
allocation_id = {ALLOCATION}
not_if_classified = true
not_if_spectra_exist = true
not_if_tns_classified = false
not_if_duplicates = true
source_group_ids = [{GROUP}]
ignore_source_group_ids = [1, 2]
not_if_tns_reported = 48
""")
    with Autoscan.from_toml(tmp_path / "a.toml") as scan:
        scan.process([row("ZTFa", 1, 2460000.1, 0.9)])
    (post,) = server.calls("POST", "/api/followup_request")
    assert {k: v for k, v in post.body.items() if k not in ("payload",)} == {
        "obj_id": "ZTFa", "allocation_id": ALLOCATION, "target_group_ids": [GROUP], "not_if_classified": True,
        "not_if_spectra_exist": True, "not_if_tns_classified": False, "not_if_duplicates": True,
        "source_group_ids": [GROUP], "ignore_source_group_ids": [1, 2], "not_if_tns_reported": 48}
    assert set(post.body["payload"]) == {"observation_type", "priority", "start_date", "end_date"}
    for bad, match in (("not_if_classified = 1", "must be true or false"),
                       ('source_group_ids = ["41"]', "list of integer ids"),
                       ("not_if_tns_reported = -1", "a number >= 0"), ("not_if_whatever = true", "unknown key")):
        (tmp_path / "b.toml").write_text(f'policy = "gt1"\nstate = "s"\n[skyportal]\nurl = "{server.url}"\n'
                                         f"group_ids = [1]\n[followup]\nallocation_id = 1\n{bad}\n")
        with pytest.raises(ConfigError, match=match):
            load_config(tmp_path / "b.toml")


# ------------------------------------------------------------------------------------------ late planning

def test_decisions_taken_before_skyportal_or_followup_get_their_actions(tmp_path, server):
    t0 = 1_700_000_000.0
    # night 1 without SkyPortal: decisions only
    run(make_config(tmp_path, decisions=False), [[row("ZTFa", 1, 2460000.1, 0.9)]], clock=lambda: t0)
    # night 2 with SkyPortal, saving only: ZTFa is saved although nothing new arrives for it
    made = run(make_config(tmp_path, server=server, decisions=False), [[row("ZTFb", 2, 2460000.2, 0.9)]],
               server=server, clock=lambda: t0 + 86400)
    assert sorted(r.body["id"] for r in server.calls("POST", "/api/sources")) == ["ZTFa", "ZTFb"]
    assert [(d.objectId, d.resumed) for d in made] == [("ZTFb", False), ("ZTFa", True)]
    # [followup] added 2 days after ZTFa's decision (validity 3 days): both get a follow-up request
    # (ZTFa's dated from now); 4 days after, an older decision gets none
    run(make_config(tmp_path, server=server, followup=True, decisions=False), [[]],
        server=server, clock=lambda: t0 + 2 * 86400)
    assert sorted(f["obj_id"] for f in server.followups) == ["ZTFa", "ZTFb"]
    assert server.followups_of("ZTFa")[0]["payload"]["start_date"] == "2023-11-16T22:13:20.000000"
    assert len(server.calls("POST", "/api/sources")) == 2  # nothing planned twice
    run(make_config(tmp_path, decisions=False), [[row("ZTFc", 3, 2460000.3, 0.9)]], clock=lambda: t0)
    cfg = make_config(tmp_path, server=server, followup=True, decisions=False)
    with Autoscan(cfg, token=server.token, sleep=lambda s: None, clock=lambda: t0 + 4 * 86400) as scan:
        from btsbot_fast.autoscan.report import summary

        assert summary(scan)["actions_planned_late"] == {"save": 1}
        assert summary(scan)["actions_queued_in_state"] == 1
        scan.resume()
    assert "ZTFc" in server.sources and server.followups_of("ZTFc") == []
    assert isinstance(FollowupConfig(allocation_id=1).constraints, dict)


def test_followup_constraints_from_the_command_line(tmp_path, server, monkeypatch):
    from click.testing import CliRunner

    from btsbot_fast.cli import main

    monkeypatch.setenv("SKYPORTAL_TOKEN", server.token)
    table = tmp_path / "night.csv"
    table.write_text("objectId,candid,jd,magpsf,fid,score,status,bts_candidate,ra,dec\n"
                     "ZTFa,1,2460000.1,18.0,1,0.9,ok,true,10.5,-3.25\n")
    base = ["autoscan", str(table), "--policy", "gt1", "--state", str(tmp_path / "s.sqlite"), "--skyportal-url",
            server.url, "--group-id", str(GROUP), "--allocation-id", str(ALLOCATION)]
    res = CliRunner().invoke(main, [*base, "--followup-constraints", '{"not_if_classified": true, "radius": 2}'])
    assert res.exit_code == 0, res.output
    (post,) = server.calls("POST", "/api/followup_request")
    assert post.body["not_if_classified"] is True and post.body["radius"] == 2
    res = CliRunner().invoke(main, [*base, "--followup-constraints", '{"not_if_classifed": true}'])
    assert res.exit_code == 2 and "unknown follow-up constraint 'not_if_classifed'" in res.output
