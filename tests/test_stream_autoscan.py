"""`btsbot-fast stream --autoscan`: live decisions from a real Kafka endpoint (librdkafka's mock cluster),
real alerts and the real model, acting on a local SkyPortal stand-in — killed with -9 mid-run, restarted,
and the night replayed under a new consumer group: each decided source saved once, followed up at most
once, and the decided sources are those `btsbot-fast autoscan` decides on the same files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

pytest.importorskip("confluent_kafka")
pytest.importorskip("requests")

from kafka_mock import STREAM_TEST_OPTIONS, kafka  # noqa: F401,E402  (the fixture)
from skyportal_server import SkyPortalServer  # noqa: E402
from test_stream import stream_sample  # noqa: E402

GROUP, ALLOCATION = 41, 7
POLICY = "gt1"


@pytest.fixture()
def server():
    s = SkyPortalServer().start()
    yield s
    s.stop()


def _config(tmp_path, server) -> str:
    path = tmp_path / "autoscan.toml"
    path.write_text(f"""
policy = "{POLICY}"
state = "{tmp_path / 'state.sqlite'}"
decisions = "{tmp_path / 'decisions.jsonl'}"
[skyportal]
url = "{server.url}"
group_ids = [{GROUP}]
timeout = 30
[followup]
allocation_id = {ALLOCATION}
payload = {{ observation_type = "IFU", priority = 3 }}
""")
    return str(path)


def _lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_stream_autoscan_acts_once_across_kill9_restart_and_replay(kafka, reference, official_model, server,
                                                                   tmp_path):
    sample = stream_sample(reference)
    env = {**os.environ, "BTSBOT_FAST_HOME": str(official_model.onnx_path.parent.parent),
           "SKYPORTAL_TOKEN": server.token}
    topic = kafka.name("ztf_autoscan")
    kafka.produce(topic, [p.read_bytes() for p in sample])
    config = _config(tmp_path, server)

    def cmd(group, *extra):
        return [sys.executable, "-m", "btsbot_fast", "stream", "--bootstrap-servers", kafka.bootstrap,
                "--topic", topic, "--group-id", group, *STREAM_TEST_OPTIONS, "--from-beginning",
                "--batch-size", "16", "--idle-timeout", "4", "--autoscan", config, *extra]

    # what the offline command decides on the same files (dry run: nothing sent, own state)
    offline = tmp_path / "offline.jsonl"
    res = subprocess.run([sys.executable, "-m", "btsbot_fast", "autoscan", *map(str, dict.fromkeys(sample)), "--policy", POLICY,
                          "--state", str(tmp_path / "offline.sqlite"), "--decisions", str(offline), "--dry-run"],
                         env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    want = {d["objectId"] for d in _lines(offline)}
    assert len(want) >= 3

    # run 1: killed with -9 once a few follow-ups went out (a POST is answered late: the kill may land
    # between SkyPortal taking it and our state recording it)
    server.delay[("POST", "/api/followup_request")] = 0.5
    group = kafka.name("btsbot")
    scores = tmp_path / "scores.jsonl"
    with open(tmp_path / "run1.err", "wb") as err:
        first = subprocess.Popen(cmd(group, "-o", str(scores)), env=env, stderr=err, cwd=tmp_path)
        try:
            deadline = time.monotonic() + 180
            while len(server.followups) < 2 and time.monotonic() < deadline and first.poll() is None:
                time.sleep(0.02)
            assert len(server.followups) >= 2, (tmp_path / "run1.err").read_text()[-2000:]
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(30)
    assert first.returncode == -signal.SIGKILL
    server.delay.clear()

    # run 2: the same group resumes; run 3: the night replayed from the start under a new group
    for run, g in (("run2", group), ("run3", kafka.name("replay"))):
        res = subprocess.run(cmd(g, "--autoscan-report", str(tmp_path / f"report-{run}")), env=env,
                             capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert res.returncode == 0, res.stderr[-3000:]
        assert server.token not in res.stderr
    saves = Counter(c.body["id"] for c in server.calls("POST", "/api/sources"))
    followups = Counter(c.body["obj_id"] for c in server.calls("POST", "/api/followup_request"))
    assert set(saves) == want, (set(saves) ^ want)
    assert all(n == 1 for n in saves.values()), saves
    assert set(followups) == want and all(n == 1 for n in followups.values()), followups
    assert all(c.headers.get("Authorization") == f"token {server.token}" for c in server.requests)

    # the replay decided nothing new and sent nothing
    summary3 = json.loads((tmp_path / "report-run3" / "summary.json").read_text())
    assert summary3["live"] and summary3["decisions"] == {} and summary3["actions"] == {}
    assert summary3["alerts"]["new"] == 0 and summary3["alerts"]["already_seen"] > 0
    assert (tmp_path / "report-run3" / "decisions.png").stat().st_size > 0
    decisions = _lines(tmp_path / "decisions.jsonl")
    assert {d["objectId"] for d in decisions} == want
    assert all(d["live"] for d in decisions)
    # the decided alerts were scored as the stream's own rows say
    rows = {r["candid"]: r for r in _lines(scores)}
    for d in decisions:
        if d["candid"] in rows:
            assert rows[d["candid"]]["score"] == pytest.approx(d["score"], abs=1e-6)
