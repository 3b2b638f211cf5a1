"""Messages that name the cause and the fix, checked word for word where the words matter: librdkafka's
repeated lines folded, one install hint form, model names, missing packages, truncated files, plurals,
and the help texts that say how a command ends."""

from __future__ import annotations

import logging
import re
import socket
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from btsbot_fast.cli import main
from btsbot_fast.messages import install_hint, plural

PACKAGE = Path(__file__).resolve().parents[1] / "btsbot_fast"
KOWALSKI = "ztf/dev/kowalski/data_ztf_alerts_20200202_1127495406315015005.avro"
FINK = "ztf/dev/fink-client/tests_data_fink-broker-sample-alert-1.avro"


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then closed: the kernel refuses connections)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_broker_is_one_line_a_count_and_the_clear_error(official_model):
    """A real librdkafka consumer against a closed port: without folding it printed hundreds of identical
    "Connect to ... failed" lines before the error that says what to do."""
    port = closed_port()
    res = CliRunner().invoke(main, ["stream", "--bootstrap-servers", f"127.0.0.1:{port}", "--topic", "ztf_x",
                                    "--group-id", "g", "-o", "unused.jsonl", "--connect-timeout", "3"])
    assert res.exit_code == 1, res.output
    lines = res.stderr.splitlines()
    refused = [i for i, line in enumerate(lines) if f"Connect to ipv4#127.0.0.1:{port} failed" in line]
    assert len(refused) == 2, res.stderr  # librdkafka retried many times: shown once, then counted
    count = lines[refused[1]]
    assert refused[1] == refused[0] + 1 and lines[refused[0]].startswith("stream: error: FAIL ["), res.stderr
    assert re.fullmatch(rf"stream: error: \(\d+ more times?: 127.0.0.1:{port}/bootstrap: Connect to "
                        rf"ipv4#127.0.0.1:{port} failed: Connection refused \(after \d+ms in state CONNECT\)\)",
                        count), res.stderr
    assert int(re.search(r"\d+", count).group()) >= 3  # several reconnects in 3 s, all folded
    assert lines[-1] == (f"Error: cannot reach the Kafka brokers at 127.0.0.1:{port} within 3 s (Failed to get "
                         "metadata: Local: Broker transport failure); check --bootstrap-servers and the security "
                         "settings")
    assert len(lines) <= 5, res.stderr


def test_repeat_folder_counts_repeats_up_to_what_librdkafka_varies():
    from btsbot_fast.stream.kafka_logs import RepeatFolder

    logger = logging.getLogger("btsbot_fast.test.folder")
    logger.propagate = False
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    handler = Keep()
    logger.addHandler(handler)
    folder = RepeatFolder(logger)
    logger.addFilter(folder)
    try:
        fail = ("FAIL [c#consumer-{}] [thrd:b]: b: Connect to ipv4#127.0.0.1:9 failed: refused "
                "(after {}ms in state CONNECT)")
        for i in range(5):
            logger.error(fail.format(1 + i % 2, i))
        logger.error("a different line")
        logger.error("a different line")
        folder.flush()
        folder.flush()  # nothing more to report
        logger.error("a third line")
    finally:
        logger.removeFilter(folder)
        logger.removeHandler(handler)
    assert seen == [fail.format(1, 0), "(4 more times: b: Connect to ipv4#127.0.0.1:9 failed: refused (after 4ms in "
                    "state CONNECT))", "a different line", "(1 more time: a different line)", "a third line"]


def test_a_lasting_run_of_repeats_is_reported_as_it_goes():
    from btsbot_fast.stream.kafka_logs import RepeatFolder

    logger = logging.getLogger("btsbot_fast.test.folder_lasting")
    logger.propagate = False
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    logger.addHandler(Keep())
    logger.addFilter(RepeatFolder(logger, report_every=0.0))  # every repeat is "a minute later"
    for _ in range(3):
        logger.error("broker down")
    assert seen == ["broker down", "(1 more time: broker down)", "(1 more time: broker down)"]


def test_every_install_hint_has_the_one_form():
    assert install_hint("report") == 'pip install "btsbot-fast[report]"'
    written_out = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                   if p.name != "messages.py" and re.search(r"pip install ['\"]?btsbot-fast", p.read_text())]
    assert written_out == [], "hints must come from btsbot_fast.messages.install_hint"


def test_plural():
    assert [plural(n, "alert") for n in (0, 1, 2)] == ["0 alerts", "1 alert", "2 alerts"]
    assert plural(1, "more time") == "1 more time" and plural(3, "entry", "entries") == "3 entries"


def test_the_live_stats_line_agrees_in_number():
    from btsbot_fast.stream.stats import format_line

    snap = {"alerts": 1, "rows": 1, "alerts_per_s": 0.5, "status": {"ok": 1}, "lag": {}, "lag_total": 0}
    assert format_line(snap) == "stream: 1 alert, 1 row, 0.5 alerts/s; errors: none; lag 0"


def test_an_unknown_model_name_says_what_exists_and_what_to_do(tmp_path):
    res = CliRunner().invoke(main, ["score", "--model", "btsbot-v9", str(tmp_path)],
                             env={"BTSBOT_FAST_HOME": str(tmp_path / "cache")})
    assert res.exit_code == 1
    assert res.stderr == (
        "Error: no model named 'btsbot-v9': it is neither a registry entry (btsbot-v1.0.1) nor in the model "
        "cache; did you mean btsbot-v1.0.1?\n"
        "Pass a registry name, a path to a .onnx file or a training run directory, or import a model of your "
        "own first:\n"
        "  btsbot-fast models import /path/to/saved_model_or.tar --name btsbot-v9\n"
        f"(the model cache is {tmp_path / 'cache'}; $BTSBOT_FAST_HOME moves it; `btsbot-fast models list` shows "
        "what it holds)\n")
    assert "--home" not in res.stderr  # only `models` subcommands take --home


@pytest.mark.parametrize("hidden, missing", [(["matplotlib"], "matplotlib is"),
                                             (["astropy.visualization"], "astropy is"),
                                             (["matplotlib", "astropy.visualization"], "matplotlib and astropy are")])
def test_show_names_exactly_the_missing_packages(tmp_path, monkeypatch, data_root, hidden, missing):
    for module in hidden:
        monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    res = CliRunner().invoke(main, ["show", str(data_root / KOWALSKI), "-o", str(tmp_path / "x.png")])
    assert res.exit_code == 1
    assert res.stderr == (f"Error: btsbot-fast show needs matplotlib and astropy ({missing} missing): "
                          'pip install "btsbot-fast[report]"\n')


@pytest.mark.parametrize("engine", ["native", "python"])
def test_a_truncated_avro_file_says_so_and_what_to_do(tmp_path, data_root, engine):
    data = (data_root / FINK).read_bytes()
    cut_header, cut_data = tmp_path / "cut_header.avro", tmp_path / "cut_data.avro"
    cut_header.write_bytes(data[:300])
    cut_data.write_bytes(data[:20000])
    out = tmp_path / "scores.jsonl"
    res = CliRunner().invoke(main, ["score", str(cut_header), str(cut_data), "--engine", engine, "-o", str(out)])
    assert res.exit_code == 0, res.output
    import json

    rows = {Path(r["source"]).name: r for r in map(json.loads, out.read_text().splitlines())}
    assert rows["cut_header.avro"]["status"] == "decode_error"
    assert rows["cut_header.avro"]["error"] == (
        "corrupt Avro data: its header (the schema) cannot be read from these 300 bytes: the file is truncated or "
        "corrupt; copy or download it again")
    assert rows["cut_data.avro"]["status"] == "decode_error"
    assert "truncated" in rows["cut_data.avro"]["error"], rows["cut_data.avro"]["error"]


def test_show_of_an_unreadable_file_names_the_file(tmp_path, data_root):
    cut = tmp_path / "cut.avro"
    cut.write_bytes((data_root / FINK).read_bytes()[:300])
    res = CliRunner().invoke(main, ["show", str(cut), "-o", str(tmp_path / "x.png")])
    assert f"{cut}[0]: decode_error: corrupt Avro data: its header" in res.stderr, res.stderr
    assert "None" not in res.stderr


def test_help_says_how_score_ends_and_what_every_preprocess_option_does():
    score = CliRunner().invoke(main, ["score", "--help"]).output
    assert "Exit status:\n    0  every PATH held alerts" in score and "\n    1  a PATH does not exist" in score
    assert "\n    2  a wrong option" in score
    pre = CliRunner().invoke(main, ["preprocess", "--help"]).output
    assert re.search(r"--batch-size INTEGER RANGE\s+Alerts per preprocessed batch", pre), pre


def test_the_live_autoscan_line_names_dead_letters_only_when_there_are_some():
    from btsbot_fast.stream.commands import autoscan_line

    assert autoscan_line("bts_p1", True, 1, 1, 1, 1, 1, 0) == (
        "autoscan bts_p1 on BTS candidates: 1 source (1 BTS candidate), 1 new alert, 1 new decision, 1 action done, "
        "0 failed")
    assert autoscan_line("gt1", False, 12, 0, 30, 2, 3, 1) == (
        "autoscan gt1 on all sources: 12 sources (0 BTS candidates), 30 new alerts, 2 new decisions, 3 actions done, "
        "1 failed (dead-lettered; rerun autoscan with --retry-failed once the cause is fixed)")
