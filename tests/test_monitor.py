"""`btsbot-fast monitor`: real decisions (the dev alerts through `score` and `autoscan`, and a state made by
`stream --autoscan` on the librdkafka mock cluster) measured against truth tables and a SkyPortal stand-in,
every figure worked out again here from the decisions file and the score table (not from the state); bad
truth rows; a PostgreSQL state read while a worker holds its rows; the shipped Prometheus rules loaded
by a real Prometheus that scrapes a running stream and fires the stall alert once the stream stops."""

from __future__ import annotations

import collections
import csv
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from btsbot_fast.cli import main

pytest.importorskip("requests")
pytest.importorskip("matplotlib")

from kafka_mock import STREAM_TEST_OPTIONS, kafka  # noqa: F401  (the fixture)
from pg_cluster import database_name, module_cluster
from skyportal_server import Recorded, SkyPortalServer

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "deploy" / "prometheus" / "btsbot-fast-rules.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "btsbot-fast-dashboard.json"
SCANNERS = 1544  # the scanners' group id on the stand-in
#: the classes the test hands out, and which of them are real extragalactic transients (written out plainly)
CYCLE = ["SN Ia", "AGN", "SN II", "", "CV", "SN Ib/c", "Other", "TDE", "SN IIn", "varstar", "SLSN-I", "bogus"]
REAL = {"SN Ia", "SN II", "SN Ib/c", "TDE", "SN IIn", "SLSN-I"}
UNIX_EPOCH_JD = 2440587.5


# --- real decisions ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def env(official_model):
    return {"BTSBOT_FAST_HOME": str(official_model.onnx_path.parent.parent), "SKYPORTAL_TOKEN": "test-token-0123456789"}


def cli(args, env, expect=0):
    res = CliRunner().invoke(main, [*map(str, args)], env=env)
    assert res.exit_code == expect, res.output
    return res


@pytest.fixture(scope="module")
def scored(reference, env, tmp_path_factory):
    """The dev alerts scored by `btsbot-fast score`, their rows, and two autoscan states made from them:
    gt1 on every source, and gt1 on BTS candidates (the filter's verdicts are in the rows)."""
    out = tmp_path_factory.mktemp("monitor")
    table = out / "dev.csv"
    cli(["score", reference.dev, "-o", table], env)
    with open(table, newline="") as fh:
        rows = list(csv.DictReader(fh))
    states = {}
    for name, policy, candidates in (("all", "gt1", "all"), ("bts", "gt1", "bts")):
        state, decisions = out / f"{name}.sqlite", out / f"{name}.jsonl"
        cli(["autoscan", table, "--policy", policy, "--candidates", candidates, "--state", state,
             "--decisions", decisions], env)
        states[name] = (state, [json.loads(x) for x in decisions.read_text().splitlines()])
    return table, rows, states


def candidates_of(rows):
    """Sources with a scored alert that passed the BTS filter (what the state records as candidates)."""
    return {r["objectId"] for r in rows if r["status"] == "ok" and r["bts_candidate"].lower() == "true" and r["jd"]}


def brightest_of(rows):
    mags = collections.defaultdict(list)
    for r in rows:
        if r["magpsf"] not in ("", None) and r["objectId"]:
            mags[r["objectId"]].append(float(r["magpsf"]))
    return {k: min(v) for k, v in mags.items()}


def make_truth(decisions, candidates, no_peak=(), no_save=()):
    """A truth table: each decided or candidate source gets a class from CYCLE (in object id order), a peak
    magnitude and, for decided ones, a scanners' save time around the decision's alert."""
    jd = {d["objectId"]: d["jd"] for d in decisions}
    truth = {}
    for i, oid in enumerate(sorted(set(jd) | set(candidates))):
        peak = None if oid in no_peak else round(16.0 + 0.37 * i % 4.0, 2)
        saved = None if oid not in jd or oid in no_save else jd[oid] + (0.45 - 0.13 * (i % 9))
        truth[oid] = (CYCLE[i % len(CYCLE)], peak, saved)
    if candidates:  # at least one bright real BTS source
        first = min(candidates)
        truth[first] = ("SN Ia", truth[first][1] and 17.0, truth[first][2])
    wrong = sorted(set(jd) - set(candidates))[-1:]  # and at least one false positive (few decisions on a bare clone)
    for oid in wrong:
        truth[oid] = ("AGN", *truth[oid][1:])
    return truth


def write_truth(path, truth, iso=False):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["objectId", "type", "peakmag", "saved_at"])
        for i, (oid, (cls, peak, saved)) in enumerate(sorted(truth.items())):
            if saved is not None and iso and i % 2:  # half of the save times as SkyPortal writes them
                saved = dt.datetime.fromtimestamp((saved - UNIX_EPOCH_JD) * 86400, dt.timezone.utc).replace(
                    tzinfo=None).isoformat()
            w.writerow([oid, cls, "" if peak is None else peak, "" if saved is None else saved])
    return path


def expected(decisions, truth, candidates, brightest, real=REAL):
    """The issue's fields, computed plainly from the decisions file, the truth and the score table."""
    cls = {oid: t[0] for oid, t in truth.items() if t[0]}
    decided = [d["objectId"] for d in decisions]
    classified = [o for o in decided if o in cls]
    is_real = [o for o in classified if cls[o] in real]
    wrong = [o for o in classified if cls[o] not in real]
    peak = {o: (truth[o][1] if o in truth and truth[o][1] is not None else brightest.get(o)) for o in candidates}
    bright = [o for o in candidates if o in cls and cls[o] in real and peak[o] is not None and peak[o] <= 18.5]
    delays = [d["jd"] - truth[d["objectId"]][2] for d in decisions
              if d["objectId"] in truth and truth[d["objectId"]][2] is not None]
    q = statistics.quantiles(delays, n=10, method="inclusive") if len(delays) >= 2 else None
    score = {d["objectId"]: d["score"] for d in decisions}
    return {
        "decided": len(decided), "classified": len(classified), "real": len(is_real),
        "purity": len(is_real) / len(classified) if classified else None,
        "bts_bright": len(bright), "bts_bright_decided": len(set(bright) & set(decided)),
        "completeness": len(set(bright) & set(decided)) / len(bright) if bright else None,
        "delays_days": {"n": len(delays), "median": statistics.median(delays) if delays else None,
                        "p10": q[0] if q else (delays[0] if delays else None),
                        "p90": q[-1] if q else (delays[0] if delays else None)},
        "false_positives": dict(collections.Counter(cls[o] for o in wrong)),
        "unclassified": len(decided) - len(classified),
        "worst": sorted(wrong, key=lambda o: (-score[o], o))[:20],
    }


def check(got, want):
    for key in ("decided", "classified", "real", "bts_bright", "bts_bright_decided", "unclassified",
                "false_positives"):
        assert got[key] == want[key], (key, got[key], want[key])
    for key in ("purity", "completeness"):
        assert got[key] == pytest.approx(want[key]) if want[key] is not None else got[key] is None, key
    for key, v in want["delays_days"].items():
        assert got["delays_days"][key] == (pytest.approx(v, abs=1e-9) if v is not None else None), key
    assert [m["objectId"] for m in got["worst_mistakes"]] == want["worst"]
    assert set(got) == {"decided", "classified", "real", "purity", "bts_bright", "bts_bright_decided",
                        "completeness", "delays_days", "false_positives", "unclassified", "worst_mistakes"}


def monitor(args, env, expect=0):
    return cli(["monitor", *args], env, expect)


def is_png(path):
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def promtool_check_metrics(path):
    if shutil.which("promtool") is None:
        return
    with open(path, "rb") as fh:
        res = subprocess.run(["promtool", "check", "metrics"], stdin=fh, capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr


# --- truth tables against real decisions -------------------------------------------------------------------
def test_monitor_against_a_truth_table_matches_the_figures_by_hand(scored, env, tmp_path):
    _, rows, states = scored
    state, decisions = states["all"]
    cands, bright = candidates_of(rows), brightest_of(rows)
    assert len(decisions) >= 3 and cands
    # one candidate without a peak magnitude (the state's brightest alert stands in), one decided source
    # the scanners never saved
    truth = make_truth(decisions, cands, no_peak={max(cands)}, no_save={decisions[0]["objectId"]})
    path = write_truth(tmp_path / "truth.csv", truth, iso=True)
    before = hashlib.sha256(Path(state).read_bytes()).hexdigest()
    res = monitor(["--state", state, "-o", tmp_path / "out", "--truth", path], env)
    assert hashlib.sha256(Path(state).read_bytes()).hexdigest() == before  # read only
    out = json.loads((tmp_path / "out" / "monitor.json").read_text())
    want = expected(decisions, truth, cands, bright)
    assert want["classified"] > want["real"] > 0 and want["delays_days"]["n"] >= 2 and want["bts_bright"] >= 1
    check(out["policies"]["gt1"], want)
    # the last 30 nights hold every decision (made just now)
    check(out["windows"]["last_30_nights"]["policies"]["gt1"], want)
    assert out["window"]["name"] == "all" and out["unmapped_classes"] == (["Other"] if "Other" in
                                                                          want["false_positives"] else [])
    assert "gt1 (all)" in res.output and "purity" in res.output
    for name in ("figure3_gt1.png", "purity_weekly.png"):
        assert is_png(tmp_path / "out" / name), name
    prom = (tmp_path / "out" / "monitor.prom").read_text()
    promtool_check_metrics(tmp_path / "out" / "monitor.prom")
    purity = re.search(r'btsbot_fast_monitor_purity\{policy="gt1",window="all"\} (\S+)', prom)
    assert float(purity.group(1)) == pytest.approx(want["purity"])
    median = re.search(r'btsbot_fast_monitor_delay_median_seconds\{policy="gt1",window="all"\} (\S+)', prom)
    assert float(median.group(1)) == pytest.approx(want["delays_days"]["median"] * 86400)
    assert 'btsbot_fast_monitor_pending_actions{policy="gt1"} 0.0' in prom
    # weekly: every decision was made this week
    weeks = out["weekly"]["gt1"]
    assert len(weeks) == 1 and weeks[0]["decided"] == want["decided"] and weeks[0]["purity"] == pytest.approx(
        want["purity"])
    # per peak-magnitude bin: the bins add up to the totals
    bins = out["per_peakmag"]["gt1"]
    assert sum(b["bts_bright"] for b in bins) == want["bts_bright"]
    assert sum(b["real"] for b in bins) <= want["real"]


def test_windows_select_by_decision_time_and_empty_windows_are_nulls(scored, env, tmp_path):
    _, rows, states = scored
    state, decisions = states["all"]
    truth = make_truth(decisions, candidates_of(rows))
    path = write_truth(tmp_path / "truth.csv", truth)
    want = expected(decisions, truth, candidates_of(rows), brightest_of(rows))
    monitor(["--state", state, "-o", tmp_path / "night", "--truth", path, "--window", "night"], env)
    night = json.loads((tmp_path / "night" / "monitor.json").read_text())
    check(night["policies"]["gt1"], want)
    assert night["window"]["name"] == "night" and night["windows"] == {}
    yesterday = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    monitor(["--state", state, "-o", tmp_path / "old", "--truth", path, "--until", yesterday], env)
    old = json.loads((tmp_path / "old" / "monitor.json").read_text())["policies"]["gt1"]
    assert old["decided"] == 0 and old["purity"] is None and old["completeness"] is None
    assert old["delays_days"] == {"n": 0, "median": None, "p10": None, "p90": None} and old["false_positives"] == {}
    assert is_png(tmp_path / "old" / "figure3_gt1.png")
    monitor(["--state", state, "-o", tmp_path / "x", "--window", "week", "--since", yesterday], env, expect=2)


def test_empty_or_unclassified_truth_gives_nulls_not_crashes(scored, env, tmp_path):
    _, _, states = scored
    state, decisions = states["bts"]
    assert decisions  # gt1 on BTS candidates decides on the dev alerts (the sample too)
    header_only = tmp_path / "empty.csv"
    header_only.write_text("objectId,type,peakmag\n")
    unclassified = tmp_path / "unclassified.csv"
    unclassified.write_text("objectId,type\n" + "".join(f"{d['objectId']},\n" for d in decisions))
    for truth in (header_only, unclassified, None):
        out = tmp_path / (truth.stem if truth else "none")
        res = monitor(["--state", state, "-o", out, *(["--truth", truth] if truth else [])], env)
        f = json.loads((out / "monitor.json").read_text())["policies"]["gt1"]
        assert f["decided"] == len(decisions) and f["classified"] == 0 and f["unclassified"] == len(decisions)
        assert f["purity"] is None and f["completeness"] is None and f["bts_bright"] == 0
        assert is_png(out / "figure3_gt1.png") and is_png(out / "purity_weekly.png")
        prom = (out / "monitor.prom").read_text()
        assert "btsbot_fast_monitor_purity{" not in prom  # no sample rather than a made-up 0
        promtool_check_metrics(out / "monitor.prom")
        if truth is None:
            assert "no truth given" in res.output


def test_bad_truth_rows_name_the_file_and_line(scored, env, tmp_path):
    _, _, states = scored
    state = states["bts"][0]
    cases = {
        "ZTF18aaaaaaa,SN Ia,17.1\nZTF18aaaaaab,AGN,bright\n": ":2: peakmag 'bright' is not a magnitude",
        "objectId,type,peakmag\nZTF18aaaaaaa,SN Ia,17\nZTF18aaaaaab\n": ":3: 1 cell,",
        "objectId,type\nZTF18 aaa,SN Ia\n": ":2: 'ZTF18 aaa' is not an object id",
        "objectId,type\nZTF18aaaaaaa,SN Ia\n\nZTF18aaaaaaa,AGN\n": ":4: ZTF18aaaaaaa is AGN here but SN Ia at line 2",
        "objectId,type,saved_at\nZTF18aaaaaaa,SN Ia,yesterday\n": ":2: saved_at 'yesterday'",
        "objectId,class\nZTF18aaaaaaa,SN Ia\n": ":1: a plain truth table has the columns",
    }
    for i, (text, message) in enumerate(cases.items()):
        path = tmp_path / f"bad{i}.csv"
        path.write_text(text)
        res = monitor(["--state", state, "-o", tmp_path / f"out{i}", "--truth", path], env, expect=1)
        assert f"{path}{message}" in res.output, (text, res.output)
        assert "Traceback" not in res.output


def test_config_and_option_errors_are_clear(scored, env, tmp_path):
    state = scored[2]["bts"][0]
    config = tmp_path / "monitor.toml"
    config.write_text('[skyportal]\nurl = "https://fritz.science"\ntoken = "s3cret-token"\n')
    res = monitor(["--state", state, "-o", tmp_path / "o", "--config", config], env, expect=2)
    assert "secrets never go in the config file" in res.output and "s3cret-token" not in res.output
    config.write_text('[classes]\n"Other" = "yes"\n')
    res = monitor(["--state", state, "-o", tmp_path / "o", "--config", config], env, expect=2)
    assert "[classes] maps a class pattern to true (real) or false" in res.output
    config.write_text('[skyportal]\nurl = "http://skyportal.example.org"\n')
    res = monitor(["--state", state, "-o", tmp_path / "o", "--config", config], env, expect=2)
    assert "skyportal.url" in res.output  # the token would travel in clear text
    res = monitor(["--state", "postgresql://me:pa55word@127.0.0.1/db", "-o", tmp_path / "o"], env, expect=2)
    assert "no passwords on the command line" in res.output and "pa55word" not in res.output
    res = monitor(["--state", tmp_path / "missing.sqlite", "-o", tmp_path / "o"], env, expect=1)
    assert "no autoscan state at" in res.output
    not_a_state = tmp_path / "other.sqlite"
    sqlite3.connect(not_a_state).execute("CREATE TABLE x (y)").connection.commit()
    res = monitor(["--state", not_a_state, "-o", tmp_path / "o"], env, expect=1)
    assert "is not an autoscan state" in res.output


def test_bts_sample_explorer_csv(scored, env, tmp_path):
    """The Sample Explorer's own layout: its 15 columns, '-' for a missing number, an empty type."""
    _, _, states = scored
    state, decisions = states["all"]
    oids = sorted(d["objectId"] for d in decisions)
    header = "ZTFID,IAUID,RA,Dec,peakt,peakfilt,peakmag,peakabs,duration,rise,fade,type,redshift,b,A_V\n"
    kinds = ["SN Ia", "SN II", "AGN", ""]
    lines = [f"{oid},SN 2020{i:03d},10.0,20.0,-1.2,g,{'-' if i == 1 else 17.5},-19.1,20,8,12,{kinds[i % 4]},0.03,"
             f"40.1,0.1\n" for i, oid in enumerate(oids)]
    path = tmp_path / "bts.csv"
    path.write_text(header + "".join(lines))
    monitor(["--state", state, "-o", tmp_path / "out", "--truth", path], env)
    f = json.loads((tmp_path / "out" / "monitor.json").read_text())["policies"]["gt1"]
    classified = [o for i, o in enumerate(oids) if kinds[i % 4]]
    assert f["classified"] == len(classified)
    assert f["real"] == sum(1 for i, o in enumerate(oids) if kinds[i % 4] in REAL)
    assert f["false_positives"] == ({"AGN": sum(1 for i in range(len(oids)) if i % 4 == 2)} if len(oids) > 2 else {})


# --- SkyPortal ----------------------------------------------------------------------------------------------
class ScannersSkyPortal(SkyPortalServer):
    """The stand-in plus ``GET /api/sources/{id}``: classifications (human and machine), tns_name and the
    groups with their saved_at, as SkyPortal answers them; unknown sources get 404."""

    def __init__(self, catalog):
        super().__init__()
        self.catalog = catalog  # oid -> data

    def _dispatch(self, h):
        parts = urllib.parse.urlsplit(h.path)
        if h.command != "GET" or not parts.path.startswith("/api/sources/"):
            return super()._dispatch(h)
        with self.lock:
            self.requests.append(Recorded(h.command, parts.path, {}, dict(h.headers.items()), None, time.time()))
        if h.headers.get("Authorization") != f"token {self.token}":
            return self._reply(h, 401, {"status": "error", "message": "Unauthorized"})
        with self.lock:
            fault = next((f for f in self.faults if f[0] == "GET" and f[1] == parts.path and f[3] > 0), None)
            if fault is not None:
                fault[3] -= 1
        if fault is not None:
            return self._reply(h, fault[2], {"status": "error", "message": "injected"})
        oid = parts.path.rsplit("/", 1)[1]
        if oid not in self.catalog:
            return self._reply(h, 404, {"status": "error", "message": f"Source {oid} not found"})
        self._reply(h, 200, {"status": "success", "data": self.catalog[oid]})


def skyportal_catalog(truth, unknown=()):
    """What SkyPortal would answer for the truth: the class as a human classification (plus a misleading
    machine one), the save to the scanners' group (and an earlier one to another group, to be ignored)."""
    out = {}
    for oid, (cls, _, saved) in truth.items():
        if oid in unknown:
            continue
        groups = [{"id": 41, "name": "autoscan", "saved_at": "2018-01-01T00:00:00", "active": True}]
        if saved is not None:
            t = dt.datetime.fromtimestamp((saved - UNIX_EPOCH_JD) * 86400, dt.timezone.utc).replace(tzinfo=None)
            groups.append({"id": SCANNERS, "name": "Redshift Completeness Factor", "saved_at": t.isoformat(),
                           "active": True})
        classes = [{"classification": "AGN", "ml": True, "probability": 0.9, "modified": "2030-01-01T00:00:00"}]
        if cls:
            classes += [{"classification": "Star", "ml": False, "modified": "2019-01-01T00:00:00"},
                        {"classification": cls, "ml": False, "modified": "2020-01-01T00:00:00.123456"}]
        out[oid] = {"id": oid, "tns_name": f"2020{oid[-3:]}" if cls else None, "groups": groups,
                    "classifications": classes}
    return out


def test_skyportal_truth_cached_polite_and_retried(scored, env, tmp_path):
    _, rows, states = scored
    state, decisions = states["all"]
    cands = candidates_of(rows)
    truth = make_truth(decisions, cands)
    # SkyPortal gives no peak magnitude: the state's brightest alert is the peak
    sp_truth = {oid: (cls, None, saved) for oid, (cls, _, saved) in truth.items()}
    unknown = {sorted(truth)[1]}
    for oid in unknown:
        sp_truth[oid] = ("", None, None)
    server = ScannersSkyPortal(skyportal_catalog(truth, unknown)).start()
    try:
        flaky = f"/api/sources/{sorted(truth)[2]}"
        server.fail("GET", flaky, 503, 2)  # answered on the third try
        config = tmp_path / "monitor.toml"
        config.write_text(f'[skyportal]\nurl = "{server.url}"\nscanner_group_id = {SCANNERS}\nrate = 200\n'
                          'concurrency = 3\nmax_attempts = 4\n')
        args = ["--state", state, "-o", tmp_path / "out", "--config", config]
        res = monitor(args, env)
        assert server.token not in res.output
        gets = [r for r in server.calls("GET") if r.path.startswith("/api/sources/")]
        asked = collections.Counter(r.path.rsplit("/", 1)[1] for r in gets)
        assert set(asked) == set(truth)  # every decided or candidate source, each once (plus the retries)
        assert asked[flaky.rsplit("/", 1)[1]] == 3 and sum(asked.values()) == len(truth) + 2
        out = json.loads((tmp_path / "out" / "monitor.json").read_text())
        check(out["policies"]["gt1"], expected(decisions, sp_truth, cands, brightest_of(rows)))
        assert out["truth"]["skyportal"]["unknown"] == len(unknown)
        # the next run asks only about what can still change: the unclassified and unknown sources, and
        # those only once the refresh time passed (12 h): none now
        n = len(server.requests)
        monitor(args, env)
        assert len(server.requests) == n
        again = json.loads((tmp_path / "out" / "monitor.json").read_text())
        assert again["policies"] == out["policies"]
        assert again["truth"]["skyportal"]["cached"] == len(truth)
        # the classes table from the TOML: "Other" counted as real changes purity; a truth table given on the
        # command line wins over SkyPortal
        config.write_text(config.read_text() + '[classes]\n"Other" = true\n')
        first = min(d["objectId"] for d in decisions)
        override = tmp_path / "fix.csv"
        override.write_text(f"objectId,type\n{first},bogus\n")
        monitor([*args, "--truth", override], env)
        fixed = json.loads((tmp_path / "out" / "monitor.json").read_text())["policies"]["gt1"]
        sp_truth2 = {**sp_truth, first: ("bogus", None, sp_truth[first][2])}
        check(fixed, expected(decisions, sp_truth2, cands, brightest_of(rows), real=REAL | {"Other"}))
        # a refused token stops the run, without showing the token
        bad = monitor(["--state", state, "-o", tmp_path / "bad", "--skyportal-url", server.url,
                       "--cache", tmp_path / "fresh.sqlite"], {**env, "SKYPORTAL_TOKEN": "wrong-token-42"}, expect=1)
        assert "401" in bad.output and "wrong-token-42" not in bad.output
    finally:
        server.stop()


# --- the state is only read ---------------------------------------------------------------------------------
def test_a_sqlite_state_held_by_a_writer_is_read_without_waiting(scored, env, tmp_path):
    from btsbot_fast.autoscan import Autoscan, AutoscanConfig

    _, _, states = scored
    state = tmp_path / "held.sqlite"
    shutil.copy(states["all"][0], state)
    with Autoscan(AutoscanConfig(policy="gt1", state=str(state), candidates="all")) as scan:
        # autoscan holds the state (its lock file) and a write transaction is open on it
        writer = sqlite3.connect(state, isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("INSERT INTO meta (key, value) VALUES ('uncommitted', 'x')")
        t0 = time.monotonic()
        monitor(["--state", state, "-o", tmp_path / "out", "--no-figures"], env)
        assert time.monotonic() - t0 < 20
        writer.execute("ROLLBACK")
        writer.close()
        assert scan.store is not None
    f = json.loads((tmp_path / "out" / "monitor.json").read_text())["policies"]["gt1"]
    assert f["decided"] == len(states["all"][1])
    assert not (tmp_path / "out" / "figure3_gt1.png").exists()


cluster = pytest.fixture(scope="module")(module_cluster)


def test_a_postgresql_state_is_read_while_a_worker_locks_its_rows(scored, env, tmp_path, cluster, request):
    psycopg = pytest.importorskip("psycopg")
    table, rows, _ = scored
    url = cluster.fresh_database(database_name(request, "m_"))
    cli(["autoscan", table, "--policy", "gt1", "--candidates", "all", "--state", url,
         "--decisions", tmp_path / "pg.jsonl"], env)
    decisions = [json.loads(x) for x in (tmp_path / "pg.jsonl").read_text().splitlines()]
    with psycopg.connect(url) as worker:  # a worker mid-batch: its sources' rows locked
        worker.execute("SELECT object_id FROM sources ORDER BY object_id FOR UPDATE").fetchall()
        worker.execute("SELECT id FROM actions FOR UPDATE").fetchall()
        t0 = time.monotonic()
        truth = make_truth(decisions, candidates_of(rows))
        monitor(["--state", url, "-o", tmp_path / "out", "--truth", write_truth(tmp_path / "t.csv", truth),
                 "--no-figures"], env)
        assert time.monotonic() - t0 < 30
    out = json.loads((tmp_path / "out" / "monitor.json").read_text())
    check(out["policies"]["gt1"], expected(decisions, truth, candidates_of(rows), brightest_of(rows)))


# --- the night page -----------------------------------------------------------------------------------------
def test_report_section_links_false_positives_to_their_pictures(scored, env, tmp_path, reference):
    _, rows, states = scored
    state, decisions = states["bts"]
    truth = {d["objectId"]: ("AGN", 17.0, None) for d in decisions}  # every decision a false positive
    path = write_truth(tmp_path / "truth.csv", truth)
    sources = {d["objectId"] for d in decisions}
    small = tmp_path / "night.csv"  # the page for the decided sources only: few pictures to draw
    with open(small, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(r for r in rows if r["objectId"] in sources)
    cli(["report", small, "--alerts", reference.dev, "--state", state, "--policy", "gt1", "--truth", path,
         "--jobs", "1", "-o", tmp_path / "page"], env)
    page = (tmp_path / "page" / "index.html").read_text()
    section = page[page.index('<section id="monitor">'):]
    section = section[:section.index("</section>")]
    for d in decisions:
        link = re.search(rf'<a href="([^"]+)">{d["objectId"]}</a>', section)
        assert link, d["objectId"]
        assert (tmp_path / "page" / link.group(1)).is_file()  # the show picture of its alert
    assert is_png(tmp_path / "page" / "monitor" / "figure3_gt1.png")
    assert "0.0%" in section  # purity of a night of false positives
    cli(["report", small, "--truth", path, "-o", tmp_path / "p2"], env, expect=2)  # --truth needs --state


# --- a state made by the stream, and Prometheus --------------------------------------------------------------
def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stream_files(reference, n=30):
    """Small dev files whose alerts the reference scored (cutouts and all), those scored > 0.5 first: the
    stream decides on some."""
    high = {reference.dev / r["source_file"] for r in reference.rows if float(r["score_tf"]) > 0.5}
    usable = {reference.dev / r["source_file"] for r in reference.rows}
    order = sorted((p for p in usable if p.is_file() and p.stat().st_size < 400_000),
                   key=lambda p: (p not in high, p.stat().st_size, str(p)))
    return order[:n]


def _prom_query(port, path, **params):
    url = f"http://127.0.0.1:{port}{path}" + ("?" + urllib.parse.urlencode(params) if params else "")
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def test_stream_state_monitored_and_prometheus_alerts_when_the_stream_stops(kafka, reference, official_model,
                                                                            tmp_path):
    """`stream --autoscan --metrics-port`: scraped by a real Prometheus running the shipped rules (with
    short `for:` durations); `monitor` reads the live state while the stream runs and the final one after;
    once the stream stops, the stall alert fires."""
    files = _stream_files(reference)
    topic = kafka.name("ztf_monitor")
    kafka.produce(topic, [p.read_bytes() for p in files])
    env = {**os.environ, "BTSBOT_FAST_HOME": str(official_model.onnx_path.parent.parent)}
    config = tmp_path / "autoscan.toml"
    config.write_text(f'policy = "gt1"\ncandidates = "all"\nstate = "{tmp_path / "state.sqlite"}"\n'
                      f'decisions = "{tmp_path / "decisions.jsonl"}"\n')
    port = _free_port()
    prometheus = shutil.which("prometheus")
    prom = None
    if prometheus:
        prom_port = _free_port()
        rules = tmp_path / "rules.yml"
        # the shipped rules, with durations a test can wait for
        rules.write_text(re.sub(r"for: \S+", "for: 1s", RULES.read_text()))
        (tmp_path / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n  scrape_timeout: 900ms\n"
            f"rule_files: [{rules}]\nscrape_configs:\n  - job_name: btsbot-fast-stream\n"
            f"    static_configs:\n      - targets: ['127.0.0.1:{port}']\n")
        prom = subprocess.Popen([prometheus, f"--config.file={tmp_path / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                 f"--web.listen-address=127.0.0.1:{prom_port}"],
                                stdout=subprocess.DEVNULL, stderr=open(tmp_path / "prometheus.log", "wb"))
    stream = subprocess.Popen([sys.executable, "-m", "btsbot_fast", "stream", "--bootstrap-servers", kafka.bootstrap,
                               "--topic", topic, "--group-id", kafka.name("monitor"), *STREAM_TEST_OPTIONS,
                               "--from-beginning", "--batch-size", "8", "--autoscan", str(config),
                               "--metrics-port", str(port)], env=env, cwd=tmp_path,
                              stderr=open(tmp_path / "stream.err", "wb"))
    try:
        deadline = time.monotonic() + 240
        scraped = False
        while time.monotonic() < deadline:
            assert stream.poll() is None, (tmp_path / "stream.err").read_text()[-3000:]
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
            except OSError:
                body = ""
            m = re.search(r'btsbot_fast_alerts_total\{status="ok"\} (\S+)', body)
            total = sum(float(x) for x in re.findall(r'btsbot_fast_alerts_total\{status="\w+"\} (\S+)', body))
            if m and total >= len(files):
                if prom is None:
                    break
                try:
                    got = _prom_query(prom_port, "/api/v1/query", query="sum(btsbot_fast_alerts_total)")
                    scraped = bool(got["data"]["result"]) and float(got["data"]["result"][0]["value"][1]) >= 10
                except OSError:
                    scraped = False
                if scraped:
                    break
            time.sleep(0.5)
        assert m, (tmp_path / "stream.err").read_text()[-3000:]
        # the live state, read while the stream holds it
        live = subprocess.run([sys.executable, "-m", "btsbot_fast", "monitor",
                               "--state", str(tmp_path / "state.sqlite"),
                               "-o", str(tmp_path / "live"), "--no-figures"], env=env, capture_output=True, text=True,
                              timeout=120, check=False)
        assert live.returncode == 0, live.stderr
        assert stream.poll() is None
        if prom is not None:
            assert scraped, (tmp_path / "prometheus.log").read_text()[-2000:]
            targets = _prom_query(prom_port, "/api/v1/targets")["data"]["activeTargets"]
            assert [t["health"] for t in targets] == ["up"]
            rules_loaded = _prom_query(prom_port, "/api/v1/rules")["data"]["groups"]
            assert {g["name"] for g in rules_loaded} == {"btsbot-fast-stream", "btsbot-fast-autoscan",
                                                         "btsbot-fast-monitor"}
            firing = [a for a in _prom_query(prom_port, "/api/v1/alerts")["data"]["alerts"] if a["state"] == "firing"]
            assert not [a for a in firing if a["labels"]["alertname"] == "BtsbotFastStreamDown"]
        stream.send_signal(signal.SIGTERM)
        stream.wait(60)
        assert stream.returncode == 0, (tmp_path / "stream.err").read_text()[-3000:]
        if prom is not None:
            deadline, fired = time.monotonic() + 30, []
            while time.monotonic() < deadline and not fired:
                alerts = _prom_query(prom_port, "/api/v1/alerts")["data"]["alerts"]
                fired = [a for a in alerts if a["labels"]["alertname"] == "BtsbotFastStreamDown"
                         and a["state"] == "firing"]
                time.sleep(0.5)
            assert fired, alerts
    finally:
        for p in (stream, prom):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(30)
    decisions = [json.loads(x) for x in (tmp_path / "decisions.jsonl").read_text().splitlines()]
    live_n = json.loads((tmp_path / "live" / "monitor.json").read_text())["policies"].get("gt1", {"decided": 0})
    assert live_n["decided"] <= len(decisions)
    truth = make_truth(decisions, set())  # a truth for the stream's own decisions
    path = write_truth(tmp_path / "truth.csv", truth)
    res = subprocess.run([sys.executable, "-m", "btsbot_fast", "monitor", "--state", str(tmp_path / "state.sqlite"),
                          "-o", str(tmp_path / "final"), "--truth", str(path)], env=env, capture_output=True,
                         text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    got = json.loads((tmp_path / "final" / "monitor.json").read_text())["policies"]["gt1"]
    want = expected(decisions, truth, set(), {})
    for key in ("decided", "classified", "real", "unclassified", "false_positives"):
        assert got[key] == want[key], key
    assert got["purity"] == pytest.approx(want["purity"]) and got["delays_days"]["n"] == want["delays_days"]["n"]
    assert len(decisions) >= 3
    if not prometheus:
        pytest.skip("the Debian package prometheus is not installed: the stream's state was monitored, but no "
                    "Prometheus scraped it")


def test_shipped_rules_and_dashboard():
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool (the Debian package prometheus) is not installed")
    res = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, check=False)
    assert res.returncode == 0 and "SUCCESS: 8 rules found" in res.stdout, res.stdout + res.stderr
    dash = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    # every metric the dashboard and the rules name is one btsbot-fast exports
    from btsbot_fast.monitor.prom import FIGURES, PREFIX

    exported = {"btsbot_fast_alerts_total", "btsbot_fast_batches_total", "btsbot_fast_batch_seconds_bucket",
                "btsbot_fast_commits_total", "btsbot_fast_commit_failures_total", "btsbot_fast_consumer_lag",
                "btsbot_fast_autoscan_decisions_total", "btsbot_fast_autoscan_actions_total",
                "btsbot_fast_autoscan_pending_actions", "up",
                *(PREFIX + s for s, _ in FIGURES.values()),
                *(PREFIX + s for s in ("delay_median_seconds", "delay_sources", "actions", "pending_actions",
                                       "last_run_timestamp_seconds"))}
    names = set()
    for e in [*exprs, RULES.read_text()]:
        names |= {n for n in re.findall(r"\b(btsbot_fast_\w+|up)\b(?=\s*[{\[)]|\s*(?:==|>|<))", e)}
    assert names and names <= exported, names - exported
