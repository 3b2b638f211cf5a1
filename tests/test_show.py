"""``btsbot-fast show`` and ``btsbot-fast report`` on real alerts, the page checked in headless Chromium.

The pictures come from the real model (the shipped ONNX), the project's preprocessing and real alert
packets (``data_root/ztf/dev``); the page is opened by Debian's chromium through selenium + chromedriver
(CI installs both: .ci/run), which runs its JavaScript: sorting, filtering, the browser's error log.
"""

from __future__ import annotations

import csv
import re
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("matplotlib")
pytest.importorskip("astropy")

from btsbot_fast import Scorer  # noqa: E402
from btsbot_fast.cli import main  # noqa: E402
from btsbot_fast.prep import preprocess_records  # noqa: E402
from btsbot_fast.prep.variant import FEATURE_NAMES  # noqa: E402
from btsbot_fast.show import AlertNotFound, inspect_records, show_alert  # noqa: E402
from btsbot_fast.show.alert import find_record  # noqa: E402

#: a real alert with cutouts and a light curve (4 detections, 12 upper limits in both bands)
KOWALSKI = "ztf/dev/kowalski/data_ztf_alerts_20200202_1127495406315015005.avro"
KOWALSKI_CANDID = 1127495406315015005
#: a file holding several alerts
MULTI = "ztf/dev/fink-client/datatest_avro_multi_alerts_other.avro"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def assert_not_blank(path: Path, min_std: float = 0.02) -> None:
    import matplotlib.image as mpimg

    img = mpimg.imread(path)
    assert img.ndim == 3 and float(img[..., :3].std()) > min_std, f"{path} looks blank"


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer()


def test_show_view_is_what_the_scorer_sees(scorer, data_root):
    """The figure's data are the project's preprocessing and score, not a second copy."""
    path = data_root / KOWALSKI
    view = show_alert(scorer, [path], saliency=True, patch=9)
    [expected] = list(scorer.score_files([path]))
    assert view.result.score == expected.score and view.result.candid == KOWALSKI_CANDID
    batch = preprocess_records([find_record([path])], "native")
    np.testing.assert_array_equal(view.triplet, batch.triplets[0])
    assert [n for n, _ in view.feature_items] == list(FEATURE_NAMES)
    np.testing.assert_array_equal(view.features, batch.metadata[0])
    # the scanner's view: the raw 63x63 stamps; the light curve: both bands, detections and limits
    assert all(s is not None and s.shape == (63, 63) for s in view.stamps)
    bands = {p.fid for p in view.light_curve}
    assert bands == {1, 2}
    assert any(p.magpsf is None for p in view.light_curve) and sum(p.is_alert for p in view.light_curve) == 1
    # occlusion: 7x7 patches of 9 px per channel, base = the score; masking the difference image's centre
    # (the transient) costs the most
    occ = view.occlusion
    assert occ.drop.shape == (3, 7, 7) and occ.patch == 9 and "9x9" in occ.method
    assert occ.base == pytest.approx(view.result.score, abs=1e-6)
    assert np.unravel_index(np.argmax(occ.drop), occ.drop.shape) == (2, 3, 3)
    # the BTS filter's verdict, read from the result by name (score rows carry bts_candidate, bts_reject)
    from btsbot_fast.show.figure import verdict_text

    view.result.bts_candidate, view.result.bts_reject = False, "bright,stationary"
    assert verdict_text(view) == "BTS filter: rejected (bright,stationary)"
    view.result.bts_candidate, view.result.bts_reject = None, "missing:drb"
    assert verdict_text(view) == "BTS filter: not evaluated (missing:drb)"
    view.result.bts_candidate = True
    assert verdict_text(view) == "BTS filter: candidate"


def test_show_cli_writes_a_figure(tmp_path, data_root):
    out = tmp_path / "alert.png"
    res = CliRunner().invoke(main, ["show", str(data_root / KOWALSKI), "-o", str(out), "--saliency"])
    assert res.exit_code == 0, res.output
    w, h = png_size(out)
    assert w >= 800 and h >= 500
    assert_not_blank(out)
    plain = tmp_path / "plain.png"
    res = CliRunner().invoke(main, ["show", str(data_root / KOWALSKI), "-o", str(plain)])
    assert res.exit_code == 0, res.output
    assert png_size(plain)[0] >= 800 and png_size(plain)[1] >= 500


def test_show_finds_the_alert_by_candid_and_archive_member(tmp_path, data_root, scorer):
    multi = data_root / MULTI
    res = CliRunner().invoke(main, ["show", str(multi), "-o", str(tmp_path / "x.png")])
    assert res.exit_code != 0 and "--candid" in res.output  # several alerts: says how to choose
    candids = [v.result.candid for v in inspect_records(scorer, [find_record([multi], 1788110916115010009)])]
    assert candids == [1788110916115010009]
    with pytest.raises(AlertNotFound, match="no alert with candid 42"):
        find_record([multi], 42)
    # the record among several PATHs (a directory walked), and an archive member as a score row names it
    rec = find_record([data_root / "ztf/dev/boom", data_root / "ztf/dev/kowalski"], KOWALSKI_CANDID)
    assert rec.objectId == "ZTF20aajcdad"
    night = tmp_path / "night.tar"
    with tarfile.open(night, "w") as tar:
        tar.add(data_root / KOWALSKI, arcname="n/a.avro")
        tar.add(data_root / MULTI, arcname="n/b.avro")
    out = tmp_path / "member.png"
    res = CliRunner().invoke(main, ["show", f"{night}::n/a.avro", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "ZTF20aajcdad candid 1127495406315015005" in res.output
    res = CliRunner().invoke(main, ["show", str(night), "--candid", "1788110916115010009", "-o", str(out)])
    assert res.exit_code == 0, res.output and "1788110916115010009" in res.output


def test_show_figure_kept_per_process_carries_nothing_between_alerts(tmp_path, data_root, scorer, monkeypatch):
    """The figure's layout is built once per process and refilled per alert over a cached background: an
    alert drawn after others (other light curves and bands, a missing cutout, another dpi, the occlusion
    row) is pixel for pixel what drawing it first gives."""
    from btsbot_fast.show import figure

    monkeypatch.setattr(figure, "_FIGURES", {})  # as in a fresh process
    first = show_alert(scorer, [data_root / KOWALSKI], output=tmp_path / "first.png")
    others = inspect_records(scorer, [find_record([data_root / NIGHT[-1]])] + [find_record([data_root / MULTI],
                                                                                           1788110916115010009)])
    assert others[0].triplet is None and others[1].triplet is not None  # a missing cutout, then a full one
    for i, view in enumerate(others):
        figure.draw_alert(view, tmp_path / f"other{i}.png", dpi=72 + 28 * i)
    show_alert(scorer, [data_root / KOWALSKI], output=tmp_path / "saliency.png", saliency=True)
    figure.draw_alert(first, tmp_path / "again.png")
    assert (tmp_path / "again.png").read_bytes() == (tmp_path / "first.png").read_bytes()
    assert png_size(tmp_path / "other0.png") == (1008, 446) and png_size(tmp_path / "saliency.png") == (1400, 820)
    for name in ("first", "other0", "other1", "saliency"):
        assert_not_blank(tmp_path / f"{name}.png")


# --- the night page --------------------------------------------------------------------------------

#: files present in both the committed sample and ../shared (about ten alerts, one without cutouts)
NIGHT = (
    "ztf/dev/kowalski/data_ztf_alerts_20200202_1127495406315015005.avro",
    "ztf/dev/kowalski/data_ztf_alerts_20200202_1127536316315015004.avro",
    "ztf/dev/kowalski/data_ztf_alerts_20231012_2475433850015015000.avro",
    "ztf/dev/kowalski/data_ztf_alerts_20231012_2475433850415015002.avro",
    MULTI,
    "ztf/dev/boom/data_sample_alerts_2752190655615010066.avro",
    "ztf/dev/boom/data_ztf_alerts_2475433850315015012.avro",
    "ztf/dev/boom/tests_data_alerts_ztf_2695378462115010012.avro",
    "ztf/dev/Ampel-ZTF/ZTF18acruwxq/1391345455815015017.avro",
)


@pytest.fixture(scope="module")
def night(tmp_path_factory, data_root):
    """A score table of real alerts (one with no cutout: a failure row) with the BTS filter's columns
    (``bts_candidate``/``bts_reject``, as score tables carry them), its page and an autoscan state."""
    tmp = tmp_path_factory.mktemp("night")
    paths = [str(data_root / p) for p in NIGHT]
    raw = tmp / "raw.csv"
    res = CliRunner().invoke(main, ["score", *paths, "-o", str(raw)])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(raw.open()))
    for r in rows:  # a verdict for two sources, none for the others
        r["bts_candidate"], r["bts_reject"] = {"ZTF20aajcdad": ("True", ""), "ZTF18abecvir": ("False", "bright")}.get(
            r["objectId"], ("", ""))
    table = tmp / "scores.csv"
    with table.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)

    from btsbot_fast.autoscan.state import DecisionRow, open_store

    state = tmp / "state.sqlite"
    with open_store(state) as store, store.transaction():
        store.insert_decision(DecisionRow("ZTF20aajcdad", "bts_p1", 1127536316315015004, 2458882.0, 0.9996, 17.5,
                                          1.0, True))
        store.insert_action("ZTF20aajcdad", "bts_p1", "save", "save:1", {"group_ids": [1]}, 1.0)
    out = tmp / "page"
    res = CliRunner().invoke(main, ["report", str(table), *sum((["--alerts", p] for p in paths), []),
                                    "--state", str(state), "--jobs", "2", "-o", str(out)])
    assert res.exit_code == 0, res.output
    return {"rows": rows, "page": out / "index.html", "out": out}


def test_report_page_has_every_source_and_its_pictures(night):
    text = night["page"].read_text()
    sources = {r["objectId"] for r in night["rows"] if r["objectId"]}
    assert len(sources) >= 8
    assert set(re.findall(r'<tr data-object-id="([^"]+)"', text)) == sources
    assert len(re.findall(r"<tr data-object-id=", text)) == len(sources)
    for src in re.findall(r'<img[^>]* src="([^"]+)"', text):
        assert (night["out"] / src).is_file(), src
    assert "http://" not in text and "https://" not in text  # nothing fetched from anywhere
    # one picture per alert, shared: each candid's figure once in the folder
    figures = sorted(p.name for p in (night["out"] / "alerts").glob("*.png"))
    assert len(figures) == 2 * len(sources)  # a figure and a thumbnail per source's best alert
    # the state's decision and action, the BTS verdicts, the failure in the summary
    row = re.search(r'<tr data-object-id="ZTF20aajcdad"[^>]*>', text).group(0)
    assert 'data-decision="selected"' in row and 'data-candidate="yes"' in row and "save: pending" in row
    assert 'data-candidate="no"' in re.search(r'<tr data-object-id="ZTF18abecvir"[^>]*>', text).group(0)
    assert "missing_cutout" in text


def test_report_pictures_are_real_figures(night):
    for png in sorted((night["out"] / "alerts").glob("*.png"))[:6]:
        w, h = png_size(png)
        if png.name.endswith("_triplet.png"):
            assert w >= 3 * 63 and h == 63
        else:
            assert w >= 800 and h >= 500
        assert_not_blank(png, 0.01)


def _chrome():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("needs Debian's chromium and chromium-driver (.ci/run installs them)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000", "--allow-file-access-from-files"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=opts, service=Service(driver))


def test_report_page_in_chromium(night, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser = _chrome()
    try:
        browser.get(night["page"].as_uri())
        rows = browser.find_elements(By.CSS_SELECTOR, "#sources tbody tr")
        n = len(rows)
        sources = {r["objectId"] for r in night["rows"] if r["objectId"]}
        assert n == len(sources)
        assert browser.find_element(By.ID, "shown").text == f"{n} of {n} sources shown"
        # every visible thumbnail loaded (a broken file has naturalWidth 0)
        widths = browser.execute_script(
            "return Array.from(document.querySelectorAll('#sources img')).map(i => i.complete ? i.naturalWidth : -1)")
        assert widths and all(w > 0 for w in widths), widths

        def column(key):
            return browser.execute_script(
                f"return Array.from(document.querySelectorAll('#sources tbody tr'))"
                f".filter(r => !r.hidden).map(r => r.getAttribute('data-{key}'))")

        # sorting: by score ascending then descending (rows without a score last), by object id
        header = browser.find_element(By.CSS_SELECTOR, '#sources th[data-key="score"]')
        header.click()
        desc = [float(s) for s in column("score") if s]
        assert desc == sorted(desc, reverse=True)
        header.click()
        asc = [float(s) for s in column("score") if s]
        assert asc == sorted(asc) and len(browser.find_elements(By.CSS_SELECTOR, "#sources tbody tr")) == n
        browser.find_element(By.CSS_SELECTOR, '#sources th[data-key="object-id"]').click()
        ids = column("object-id")
        assert ids == sorted(ids, reverse=True)

        # filtering hides rows, never drops them
        lo = browser.find_element(By.ID, "f-min")
        lo.clear()
        lo.send_keys("0.5")
        visible = [float(s) for s in column("score")]
        assert visible and all(s >= 0.5 for s in visible) and len(visible) < n
        assert len(browser.find_elements(By.CSS_SELECTOR, "#sources tbody tr")) == n
        lo.clear()
        lo.send_keys("0")
        Select(browser.find_element(By.ID, "f-candidate")).select_by_value("yes")
        assert column("object-id") == ["ZTF20aajcdad"]
        Select(browser.find_element(By.ID, "f-candidate")).select_by_value("all")
        Select(browser.find_element(By.ID, "f-decision")).select_by_value("selected")
        assert column("object-id") == ["ZTF20aajcdad"]
        Select(browser.find_element(By.ID, "f-decision")).select_by_value("all")

        # the rank orders the sources as the page lists them; near 1 the scores show 6 decimals
        browser.find_element(By.CSS_SELECTOR, '#sources th[data-key="rank"]').click()  # descending
        browser.find_element(By.CSS_SELECTOR, '#sources th[data-key="rank"]').click()  # ascending
        ranks = [int(r) for r in column("rank")]
        assert ranks == list(range(1, n + 1))
        by_rank = [float(s) for s in column("score") if s]
        assert by_rank == sorted(by_rank, reverse=True)
        cells = browser.find_elements(By.CSS_SELECTOR, 'tr[data-object-id="ZTF20aajcdad"] td')
        assert cells[0].text == "1" and re.fullmatch(r"0\.9996\d\d", cells[2].text), [c.text for c in cells]
        # a screenshot as a person sees the page: the table is drawn, not blank
        shot = tmp_path / "page.png"
        assert browser.save_screenshot(str(shot))
        assert png_size(shot) == tuple(browser.execute_script("return [window.innerWidth, window.innerHeight]")) \
            or png_size(shot)[0] >= 1000
        assert_not_blank(shot, 0.05)

        # a click opens the source's section: its show figure loads, its alert rows are there
        browser.find_element(By.CSS_SELECTOR, 'tr[data-object-id="ZTF20aajcdad"] td:nth-child(3)').click()
        section = browser.find_element(By.ID, "src-ZTF20aajcdad")
        assert section.is_displayed()
        assert browser.execute_script(
            "const i = document.querySelector('#src-ZTF20aajcdad img.figure');"
            "return new Promise(r => { if (i.complete) r(i.naturalWidth); else i.onload = () => r(i.naturalWidth); })"
        ) >= 800
        assert len(section.find_elements(By.CSS_SELECTOR, "table.alerts tr")) == 1 + 2
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        browser.quit()


def test_report_without_alerts_or_matplotlib_free_parts(tmp_path, night):
    """No --alerts: the page still lists every source, saying there are no pictures."""
    out = tmp_path / "bare"
    table = night["out"].parent / "scores.csv"
    res = CliRunner().invoke(main, ["report", str(table), "-o", str(out), "--policy", "gt1"])
    assert res.exit_code == 0, res.output
    text = (out / "index.html").read_text()
    assert "no alert files given" in text and "<img" not in text
    assert len(re.findall(r"<tr data-object-id=", text)) == len({r["objectId"] for r in night["rows"] if r["objectId"]})
    assert "decision (gt1)" in text


def test_report_rejects_a_missing_state(tmp_path, night):
    table = night["out"].parent / "scores.csv"
    res = CliRunner().invoke(main, ["report", str(table), "--state", str(tmp_path / "nope.sqlite"),
                                    "-o", str(tmp_path)])
    assert res.exit_code != 0 and "no autoscan state" in res.output
    assert not (tmp_path / "nope.sqlite").exists()



def test_report_rebuilt_reuses_the_pictures(night, data_root):
    """A page rebuilt into the same folder draws nothing it has drawn already (pictures once per alert)."""
    pictures = sorted((night["out"] / "alerts").glob("*.png"))
    before = {p.name: p.stat().st_mtime_ns for p in pictures}
    table = night["out"].parent / "scores.csv"
    res = CliRunner().invoke(main, ["report", str(table), *sum((["--alerts", str(data_root / p)] for p in NIGHT), []),
                                    "-o", str(night["out"])])
    assert res.exit_code == 0, res.output
    after = {p.name: p.stat().st_mtime_ns for p in (night["out"] / "alerts").glob("*.png")}
    assert after == before


def test_show_alert_api(tmp_path, scorer, data_root):
    from btsbot_fast.show import show_alert

    out = tmp_path / "api.png"
    view = show_alert(scorer, [data_root / KOWALSKI], output=out)
    assert view.occlusion is None and view.result.candid == KOWALSKI_CANDID
    assert png_size(out)[0] >= 800


def test_show_and_report_say_which_extra_is_missing(tmp_path, monkeypatch, data_root):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if the [report] extra were not installed
    res = CliRunner().invoke(main, ["show", str(data_root / KOWALSKI), "-o", str(tmp_path / "x.png")])
    assert res.exit_code == 1 and 'pip install "btsbot-fast[report]"' in res.output
    res = CliRunner().invoke(main, ["report", str(data_root / KOWALSKI), "-o", str(tmp_path / "page")])
    assert res.exit_code == 1 and 'pip install "btsbot-fast[report]"' in res.output
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "page").exists()


def test_page_decisions_follow_the_bts_candidacy_rule_when_rows_carry_verdicts():
    """The page decides as autoscan does by default: a source is decided from its first candidate alert on,
    and rows without any verdict (tables written before the filter) decide on every source."""
    from btsbot_fast.policies import Policy
    from btsbot_fast.show.page import group_sources

    def row(oid, candid, jd, score, verdict):
        return {"objectId": oid, "candid": candid, "jd": jd, "magpsf": 18.0, "fid": 1, "score": score,
                "status": "ok", "error": "", "source": "x.avro", "record_index": 0, "bts_candidate": verdict,
                "bts_reject": "" if verdict else "bright"}

    gt1 = Policy.parse("gt1")
    rows = [row("ZTFa", 1, 1.0, 0.9, False), row("ZTFa", 2, 2.0, 0.1, True), row("ZTFb", 3, 1.0, 0.9, False)]
    _, sources = group_sources(rows, [gt1])
    decided = {s.object_id: (s.decisions["gt1"].candid if s.decisions["gt1"] else None) for s in sources}
    assert decided == {"ZTFa": 2, "ZTFb": None}
    plain = [{k: v for k, v in r.items() if not k.startswith("bts_")} for r in rows]
    _, sources = group_sources(plain, [gt1])
    assert {s.object_id: s.decisions["gt1"].candid for s in sources} == {"ZTFa": 1, "ZTFb": 3}


def test_show_figure_explains_its_saliency_map(tmp_path, data_root, scorer):
    """What a reader needs to read the figure is on it: both colours of the occlusion map and its scale, why a
    near-certain score leaves the map faint, one score in header and footer, "this alert" inside its axes."""
    from btsbot_fast.show import figure
    from btsbot_fast.show.alert import score_text

    view = show_alert(scorer, [data_root / KOWALSKI], output=tmp_path / "s.png", saliency=True)
    drawn = figure._FIGURES[3]
    occ = view.occlusion
    assert drawn.occlusion.title.get_text() == ("occlusion saliency: red = masking the patch lowers the score, "
                                                "blue = raises it, grey = no change")
    top, middle, bottom = (t.get_text() for t in drawn.key_labels)
    assert (top, middle, bottom) == (f"+{occ.largest:.2g}\n(score\ndrops)", "0",
                                     f"(score\nrises)\n\u2212{occ.largest:.2g}")
    # header and footer print the same score
    shown = score_text(view.result.score)
    assert shown == "0.999685" and score_text(occ.base) == shown
    assert f"score {shown} " in drawn.title.get_text()
    assert f"score {shown} minus the masked score" in drawn.method.get_text()
    # near 1 the map is faint, and the figure says why
    assert occ.largest < 0.01
    assert drawn.faint.get_text() == (f"a faint map: at {shown} the model is near certain and no single patch moves "
                                      f"the score by more than {occ.largest:.2g}; the colours are scaled to that "
                                      "largest change")
    # the colour key really is red at the top and blue at the bottom (pixels of the written PNG)
    import matplotlib.image as mpimg

    img = mpimg.imread(tmp_path / "s.png")[..., :3]
    renderer = drawn.fig.canvas.get_renderer()
    key = next(ax for ax in drawn.fig.axes if ax.get_images() and ax.get_position().width < 0.02)
    box = key.get_window_extent(renderer)
    cx, h = int((box.x0 + box.x1) / 2), img.shape[0]
    red, blue = img[h - int(box.y1) + 3, cx], img[h - int(box.y0) - 3, cx]
    assert red[0] > red[2] + 0.15 and blue[2] > blue[0] + 0.15, (red, blue)
    # "this alert" stays inside the light curve's axes
    lc = drawn.light_curve
    note, axes = lc.note.get_window_extent(renderer), lc.ax.get_window_extent(renderer)
    assert lc.note.get_visible() and axes.x0 <= note.x0 and note.x1 <= axes.x1 and axes.y0 <= note.y0 \
        and note.y1 <= axes.y1, (note, axes)


def test_occlusion_note_says_why_a_map_shows_little():
    from btsbot_fast.show.alert import Occlusion

    assert Occlusion(1.0, np.zeros((3, 7, 7)), 9).note == (
        "no patch changes the score at all: at 1.000000 the model is saturated (no single patch decides it), so "
        "the map is uniform grey")
    drop = np.zeros((3, 7, 7))
    drop[2, 3, 3] = 0.2
    assert Occlusion(0.6, drop, 9).note == "" and Occlusion(0.6, drop, 9).largest == 0.2


def test_page_ranks_sources_near_1_and_prints_the_digits_that_differ():
    from btsbot_fast.policies import Policy
    from btsbot_fast.show.page import group_sources, render_page

    def row(oid, candid, score):
        return {"objectId": oid, "candid": candid, "jd": 2460000.5 + candid / 10, "magpsf": 18.0, "fid": 1,
                "score": score, "status": "ok" if score is not None else "missing_cutout", "error": "",
                "source": "x.avro", "record_index": 0}

    rows = [row("ZTFone", 1, 1.0), row("ZTFtwo", 2, 1.0), row("ZTFtwo", 3, 0.9), row("ZTFhigh", 4, 0.999690),
            row("ZTFlow", 5, 0.999684), row("ZTFmid", 6, 0.5), row("ZTFnone", 7, None)]
    gt1 = Policy.parse("gt1")
    alerts, sources = group_sources(rows, [gt1])
    assert [s.object_id for s in sources] == ["ZTFtwo", "ZTFone", "ZTFhigh", "ZTFlow", "ZTFmid", "ZTFnone"]
    text = render_page(alerts, sources, gt1, [gt1], {}, "t")
    cells = re.findall(r'<tr data-object-id="(\w+)" data-rank="(\d+)".*?<td>\d+</td><td><a [^>]+>\w+</a></td>'
                       r"<td>([^<]+)</td>", text)
    assert cells == [("ZTFtwo", "1", "1.000000"), ("ZTFone", "2", "1.000000"), ("ZTFhigh", "3", "0.999690"),
                     ("ZTFlow", "4", "0.999684"), ("ZTFmid", "5", "0.5000"), ("ZTFnone", "6", "—")]
    assert ('<p class="muted">rank: by best score; 2 sources share a best score with another; 2 sources reach '
            "exactly 1, the most the model's float32 output can say: those are ordered by their next best alerts' "
            "scores, then by their number of alerts.</p>") in text
    assert "<p>7 alerts, 6 scored, 1 failed; 6 sources" in text and "rank 1: best score 1.000000" in text
