"""Model registry: entries, import refusals, safe extraction, resolve, pull failures, the `models` CLI."""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from btsbot_fast import registry
from btsbot_fast.prep.variant import FEATURE_NAMES, VARIANT
from btsbot_fast.registry import convert
from btsbot_fast.registry.commands import models
from btsbot_fast.registry.entries import ModelEntry

OFFICIAL = "btsbot-v1.0.1"
OFFICIAL_SHA256 = "bf4dea74ff43b3338a763573d19a29b264266646b762941fcc7021ba7cbd0348"


@pytest.fixture
def empty_home(tmp_path: Path) -> Path:
    return tmp_path / "home"


# ------------------------------------------------------------------------------------------ entries
def test_official_entry_matches_variant():
    e = registry.get_entry(OFFICIAL)
    assert e.name == OFFICIAL and e.version == "1.0.1"
    assert e.variant == VARIANT
    assert e.feature_names == tuple(FEATURE_NAMES)
    assert e.sha256 == OFFICIAL_SHA256
    assert e.format == "tf-savedmodel-tar" and e.signature == "serving_default"
    assert e.inputs["triplet"]["name"] == "triplet" and e.inputs["triplet"]["shape"] == [None, 63, 63, 3]
    assert e.inputs["metadata"]["name"] == "metadata" and e.inputs["metadata"]["shape"] == [None, 25]
    assert e.output["name"] == "fc_out"
    assert e.licence["spdx"] == "MIT" and e.raw["citation"]["doi"]
    assert e.url and e.url.startswith("https://")
    assert registry.get_entry("btsbot").name == OFFICIAL  # family alias -> latest version
    assert OFFICIAL in [x.name for x in registry.list_entries()]


def test_shared_sha256sums_agree_with_registry(shared: Path):
    line = (shared / "models" / "SHA256SUMS").read_text().split()
    assert line[0] == registry.get_entry(OFFICIAL).sha256


def test_entry_with_unknown_feature_or_variant_is_rejected():
    doc = dict(registry.get_entry(OFFICIAL).raw)
    with pytest.raises(registry.ModelCardError, match="not computed by variant"):
        ModelEntry.from_dict({**doc, "feature_names": list(FEATURE_NAMES[:-1]) + ["maxmag"]})
    with pytest.raises(registry.ModelCardError, match="unknown preprocessing variant"):
        ModelEntry.from_dict({**doc, "preprocessing": {"variant": "btsbot-v9"}})
    with pytest.raises(registry.ModelCardError, match="duplicate"):
        ModelEntry.from_dict({**doc, "feature_names": list(FEATURE_NAMES[:24]) + ["sgscore1"]})
    with pytest.raises(registry.ModelNotFoundError, match="known: .*btsbot-v1.0.1"):
        registry.get_entry("no-such-model")


def test_model_home_precedence(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("BTSBOT_FAST_HOME", str(tmp_path / "env"))
    assert registry.model_home() == tmp_path / "env"
    assert registry.model_home(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("BTSBOT_FAST_HOME")
    assert "btsbot-fast" in str(registry.model_home())


def test_registry_import_is_light():
    code = ("import sys, btsbot_fast.registry, btsbot_fast.registry.commands; "
            "print(sorted(m for m in ('tensorflow', 'tf2onnx', 'onnxruntime') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout
    assert out.strip() == "[]"


# ------------------------------------------------------------------------------------------ import refusals
@pytest.fixture
def tampered(tmp_path: Path) -> Path:
    """The official tarball with one bit flipped; without ../shared, another real tar under its name."""
    from conftest import shared_root

    official = (shared_root() or tmp_path) / "models" / "btsbot-v1.0.1.tar"
    if official.is_file():
        data = bytearray(official.read_bytes())
        data[len(data) // 2] ^= 0x01  # one bit inside the variables file
    else:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            m = tarfile.TarInfo("best_model/saved_model.pb")
            m.size = 4
            t.addfile(m, io.BytesIO(b"abcd"))
        data = bytearray(buf.getvalue())
    p = tmp_path / "btsbot-v1.0.1.tar"
    p.write_bytes(bytes(data))
    return p


def test_tampered_tarball_is_refused(tampered: Path, empty_home: Path):
    with pytest.raises(registry.ModelImportError, match="sha256 .* expects " + OFFICIAL_SHA256):
        registry.import_model(tampered, name=OFFICIAL, home=empty_home)
    # without --name, the file name alone must not let it in under the registry's name either
    with pytest.raises(registry.ModelImportError, match="named like registry model"):
        registry.import_model(tampered, home=empty_home)
    assert not (empty_home / OFFICIAL).exists()


def test_import_rejects_bad_inputs(tmp_path: Path, empty_home: Path):
    junk = tmp_path / "model.tar.gz"
    junk.write_bytes(b"not a tar at all" * 100)
    with pytest.raises(registry.ModelImportError, match="not a .*tar archive"):
        registry.import_model(junk, name="mine", home=empty_home)
    with pytest.raises(registry.ModelImportError, match="no such file"):
        registry.import_model(tmp_path / "absent.tar", home=empty_home)
    with pytest.raises(registry.ModelImportError, match="invalid model name"):
        registry.import_model(junk, name="../escape", home=empty_home)
    # a directory claimed to be the official model, whose files differ
    d = tmp_path / "sm"
    (d / "variables").mkdir(parents=True)
    (d / "saved_model.pb").write_bytes(b"x")
    with pytest.raises(registry.ModelImportError, match="do not match registry entry"):
        registry.import_model(d, name=OFFICIAL, home=empty_home)


def _tar_with(tmp_path: Path, member: tarfile.TarInfo, payload: bytes | None = None, gz: bool = False) -> Path:
    p = tmp_path / ("evil.tar.gz" if gz else "evil.tar")
    with tarfile.open(p, "w:gz" if gz else "w") as t:
        t.addfile(member, io.BytesIO(payload) if payload is not None else None)
    return p


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "hardlink"])
def test_safe_extract_refuses_escapes(tmp_path: Path, kind: str):
    if kind in ("dotdot", "absolute"):
        m = tarfile.TarInfo("../outside.txt" if kind == "dotdot" else "/tmp/outside.txt")
        m.size = 3
        archive = _tar_with(tmp_path, m, b"bad", gz=True)
    else:
        m = tarfile.TarInfo("best_model/link")
        m.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
        m.linkname = "/etc/passwd"
        archive = _tar_with(tmp_path, m)
    with pytest.raises(registry.ModelImportError, match="refusing"):
        convert.safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "outside.txt").exists()


def test_safe_extract_sniffs_compression(tmp_path: Path):
    m = tarfile.TarInfo("best_model/saved_model.pb")
    m.size = 4
    archive = _tar_with(tmp_path, m, b"abcd", gz=True)
    plain_named_gz = tmp_path / "plain.tar.gz"
    with tarfile.open(plain_named_gz, "w") as t:  # plain tar under a .tar.gz name, like upstream's
        t.addfile(m, io.BytesIO(b"abcd"))
    for a in (archive, plain_named_gz):
        out = tmp_path / f"out-{a.name}"
        convert.safe_extract(a, out)
        assert convert.find_savedmodel(out) == (out / "best_model").resolve()


def test_probe_inputs_are_normalised_and_seeded():
    t, m = convert.probe_inputs(FEATURE_NAMES)
    t2, m2 = convert.probe_inputs(FEATURE_NAMES)
    assert t.dtype == np.float32 and m.dtype == np.float32 and t.shape == (40, 63, 63, 3) and m.shape == (40, 25)
    assert np.array_equal(t, t2) and np.array_equal(m, m2)
    norms = np.sqrt((t[:10].astype(np.float64) ** 2).sum(axis=(1, 2)))
    assert np.allclose(norms, 1.0, atol=1e-5)
    assert (m[:, FEATURE_NAMES.index("sgscore2")] == -999).any()


# ------------------------------------------------------------------------------------------ resolve
def test_resolve_missing_registry_model_says_how_to_get_it(empty_home: Path):
    # a registry entry that is neither imported nor shipped: the message says how to get it
    msg = registry.cache.not_found_message(OFFICIAL, empty_home)
    assert "btsbot-fast models import /path/to/btsbot-v1.0.1.tar" in msg
    assert "btsbot-fast models pull btsbot-v1.0.1" in msg
    with pytest.raises(registry.ModelNotFoundError, match="models import /path/to/saved_model_or.tar"):
        registry.resolve("definitely-not-a-model", home=empty_home)
    with pytest.raises(registry.ModelNotFoundError, match="no such model file"):
        registry.resolve(str(empty_home / "nothing.onnx"))


def test_resolve_bare_onnx_file(tmp_path: Path):
    f = tmp_path / "mymodel.onnx"
    f.write_bytes(b"\x08\x07")  # resolve does not open the file; the backend does
    m = registry.resolve(f)
    assert m.name == "mymodel" and m.variant == VARIANT and m.feature_names == tuple(FEATURE_NAMES)
    assert (m.triplet_input, m.metadata_input, m.output_name) == ("triplet", "metadata", "fc_out")
    assert m.onnx_path == f.resolve() and m.feature_indices == tuple(range(25))
    m2 = registry.resolve(str(f), spec=OFFICIAL)  # borrow the entry's spec; the file keeps its own name
    assert m2.name == "mymodel" and m2.card["spec_from"] == OFFICIAL
    with pytest.raises(registry.ModelNotFoundError, match="import it first"):
        other = tmp_path / "weights.tar"
        other.write_bytes(b"")
        registry.resolve(other)


def test_resolve_run_dir_and_card_validation(tmp_path: Path):
    run = tmp_path / "run1"
    run.mkdir()
    (run / "model.onnx").write_bytes(b"onnx")
    feats = ["magpsf", "sgscore1", "drb"]
    card = {"name": "tiny", "version": "0.1", "variant": VARIANT, "feature_names": feats,
            "inputs": {"triplet": {"name": "triplet"}, "metadata": {"name": "meta"}}, "output": {"name": "score"}}
    (run / "model_card.json").write_text(json.dumps(card))
    m = registry.resolve(run)
    assert (m.name, m.version, m.metadata_input, m.output_name) == ("tiny", "0.1", "meta", "score")
    assert m.feature_indices == tuple(FEATURE_NAMES.index(f) for f in feats)
    assert registry.resolve(run / "model.onnx").name == "tiny"  # the card beside the file is used

    for bad, pattern in [({"variant": "nope"}, "unknown preprocessing variant"),
                         ({"feature_names": ["magpsf", "bogus"]}, "not computed by variant"),
                         ({"onnx_sha256": "0" * 64}, "changed after import")]:
        (run / "model_card.json").write_text(json.dumps({**card, **bad}))
        with pytest.raises(registry.ModelCardError, match=pattern):
            registry.resolve(run)


# ------------------------------------------------------------------------------------------ pull
def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_pull_failure_says_how_to_import_offline(empty_home: Path):
    url = f"http://127.0.0.1:{_closed_port()}/btsbot-v1.0.1.tar.gz"
    with pytest.raises(registry.ModelImportError) as ei:
        registry.pull(OFFICIAL, home=empty_home, url=url, timeout=5)
    msg = str(ei.value)
    assert url in msg and "btsbot-fast models import /path/to/btsbot-v1.0.1.tar" in msg
    assert not (empty_home / OFFICIAL).exists()


def test_pull_checks_sha256_then_imports(tmp_path: Path, empty_home: Path, official_tarball: Path, monkeypatch):
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"junk")
    with pytest.raises(registry.ModelImportError, match="does not match the registry"):
        registry.pull(OFFICIAL, home=empty_home, url=junk.as_uri())

    calls = []
    monkeypatch.setattr(convert, "import_model", lambda path, **kw: calls.append((Path(path).read_bytes()[:4], kw)))
    registry.pull(OFFICIAL, home=empty_home, url=official_tarball.as_uri())
    assert calls and calls[0][1]["name"] == OFFICIAL and calls[0][1]["home"] == empty_home


# ------------------------------------------------------------------------------------------ CLI
def test_cli_path_and_list_without_imported_model(empty_home: Path):
    shipped = registry.resolve_shipped(OFFICIAL).onnx_path
    r = CliRunner().invoke(models, ["path", OFFICIAL, "--home", str(empty_home)])
    assert r.exit_code == 0 and r.output.strip() == str(shipped)
    r = CliRunner().invoke(models, ["list", "--home", str(empty_home)])
    assert r.exit_code == 0, r.output
    line = next(x for x in r.output.splitlines() if x.startswith(OFFICIAL))
    assert line.split()[2] == "shipped" and line.endswith(str(shipped))
    r = CliRunner().invoke(models, ["path", "not-a-model", "--home", str(empty_home)])
    assert r.exit_code != 0 and "models import" in r.output
    r = CliRunner().invoke(models, ["pull", OFFICIAL, "--home", str(empty_home), "--timeout", "5",
                                    "--url", f"http://127.0.0.1:{_closed_port()}/x.tar"])
    assert r.exit_code != 0 and "models import" in r.output


# ------------------------------------------------------------------------------------------ with the real model
def test_official_import_card(official_model):
    m = official_model
    assert m.name == OFFICIAL and m.version == "1.0.1" and m.variant == VARIANT
    assert m.feature_names == tuple(FEATURE_NAMES)
    assert (m.triplet_input, m.metadata_input, m.output_name) == ("triplet", "metadata", "fc_out")
    card = m.card
    assert card["onnx_sha256"] == registry.cache.sha256_file(m.onnx_path)
    assert card["source"]["sha256"] == OFFICIAL_SHA256
    assert 17 <= card["conversion"]["opset"] <= 18
    assert card["parity"]["max_abs_diff"] <= 1e-5 and card["parity"]["n_inputs"] >= 10
    assert card["licence"]["spdx"] == "MIT"


def test_cli_with_imported_model(official_model, tmp_path: Path):
    home = official_model.onnx_path.parent.parent
    r = CliRunner().invoke(models, ["path", OFFICIAL, "--home", str(home)])
    assert r.exit_code == 0, r.output
    assert r.output.strip() == str(official_model.onnx_path)
    r = CliRunner().invoke(models, ["list", "--home", str(home)])
    assert r.exit_code == 0 and "imported" in r.output and str(official_model.onnx_path) in r.output
    # a copy of the ONNX file resolves as a bare file with the default spec
    f = tmp_path / "copy.onnx"
    shutil.copyfile(official_model.onnx_path, f)
    m = registry.resolve(f)
    assert m.name == "copy" and m.n_features == 25


def test_backend_io_checks(official_model):
    b = official_model.backend(intra_op_threads=1)
    assert b.providers == ["CPUExecutionProvider"]
    assert (b.triplet_input, b.metadata_input, b.output_name, b.n_features) == ("triplet", "metadata", "fc_out", 25)
    t, m = convert.probe_inputs(FEATURE_NAMES, n=4)
    s = b.run(t, m)
    assert s.shape == (4,) and s.dtype == np.float32 and np.all((s >= 0) & (s <= 1))
    assert b.run(t[:0], m[:0]).shape == (0,)
    with pytest.raises(TypeError, match="float32"):
        b.run(t.astype(np.float64), m)
    with pytest.raises(ValueError, match="shape"):
        b.run(t[:, :62], m)
    with pytest.raises(ValueError, match="shape"):
        b.run(t, m[:, :24])
    with pytest.raises(ValueError, match="batch sizes differ"):
        b.run(t, m[:3])


# ------------------------------------------------------------------------------------------ the shipped model
def test_shipped_model_is_the_default_and_an_import_overrides_it(empty_home: Path, tmp_path: Path):
    shipped = registry.resolve(OFFICIAL, home=empty_home)
    assert shipped.origin == "shipped" and shipped == registry.resolve_shipped(OFFICIAL)
    assert registry.resolve("btsbot", home=empty_home).origin == "shipped"  # the family alias too
    entry = registry.get_entry(OFFICIAL)
    assert registry.cache.sha256_file(shipped.onnx_path) == entry.shipped_sha256 == shipped.card["onnx_sha256"]
    for f in ("LICENSE-BTSbot.txt", "NOTICE.md"):  # the upstream licence and the attribution travel with it
        assert (shipped.onnx_path.parent / f).is_file()
    assert "MIT License" in (shipped.onnx_path.parent / "LICENSE-BTSbot.txt").read_text()
    # an imported copy in the cache is an explicit choice and wins
    home = tmp_path / "home"
    shutil.copytree(shipped.onnx_path.parent, home / OFFICIAL)
    imported = registry.resolve(OFFICIAL, home=home)
    assert imported.origin == "cache" and imported.onnx_path == (home / OFFICIAL / "model.onnx").resolve()


def test_shipped_model_is_checked_against_the_entry(tmp_path: Path):
    """A changed or missing shipped file is refused: the sha256 in the registry entry is checked on load."""
    entry = registry.get_entry(OFFICIAL)
    pkg = tmp_path / "_models"
    shutil.copytree(entry.shipped_dir, pkg / entry.shipped["dir"])
    copy = ModelEntry.from_dict(entry.raw, source_file=pkg / f"{OFFICIAL}.json")
    assert registry.resolve_shipped(copy).onnx_path == (pkg / OFFICIAL / "model.onnx").resolve()
    onnx = pkg / OFFICIAL / "model.onnx"
    data = bytearray(onnx.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of one weight
    onnx.write_bytes(bytes(data))
    with pytest.raises(registry.ModelCardError, match="shipped model file was changed"):
        registry.resolve_shipped(copy)
    onnx.unlink()
    with pytest.raises(registry.ModelCardError, match="missing"):
        registry.resolve_shipped(copy)
    with pytest.raises(registry.ModelCardError, match="shipped.onnx_sha256"):
        ModelEntry.from_dict({**entry.raw, "shipped": {"dir": OFFICIAL, "onnx_sha256": "abc"}})


def test_import_of_a_shipped_model_keeps_the_shipped_file(official_tarball: Path, empty_home: Path):
    """The official tarball is identified (sha256) and the shipped ONNX kept: nothing converted (no
    TensorFlow needed), nothing stored that would take precedence over it."""
    r = CliRunner().invoke(models, ["import", str(official_tarball), "--home", str(empty_home)])
    assert r.exit_code == 0, r.output
    assert "kept the shipped" in r.output and "--replace-shipped" in r.output
    assert not empty_home.exists() or not any(empty_home.iterdir())
    assert registry.resolve(OFFICIAL, home=empty_home).origin == "shipped"


@pytest.mark.tf
@pytest.mark.slow
def test_verify_shipped_against_the_official_tarball(official_tarball: Path, data_root: Path):
    """The shipped ONNX equals a fresh conversion of the official weights, and TensorFlow, on the golden
    and real reference inputs (what `btsbot-fast models verify` prints)."""
    pytest.importorskip("tensorflow", reason="verify converts the SavedModel again: needs the [tf] extra")
    pytest.importorskip("tf2onnx", reason="needs the [tf] extra")
    report = registry.verify(OFFICIAL, official_tarball, golden=data_root / "golden",
                             reference=data_root / "ztf" / "reference")
    assert report.ok, report.lines()
    assert [s.name for s in report.sets] == ["probe", "golden", "reference alerts"]
    for s in report.sets:
        assert s.n > 0 and s.reconverted_vs_shipped <= 1e-6 and s.shipped_vs_tensorflow <= 1e-6
    assert report.sets[2].shipped_vs_recorded <= 2e-6  # the production TensorFlow scores
    strict = dataclasses.replace(report, tolerance=-1.0)
    assert not strict.ok and strict.lines()[-1].startswith("FAILED")


@pytest.mark.tf
@pytest.mark.slow
def test_import_directory_and_parity_refusal(official_tarball: Path, tmp_path: Path, empty_home: Path):
    """An extracted SavedModel directory is recognised as the registry model; a failed parity stores nothing."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("tf2onnx")
    convert.safe_extract(official_tarball, tmp_path / "x")
    with pytest.raises(registry.ModelImportError, match="disagrees with TensorFlow"):
        registry.import_model(tmp_path / "x" / "best_model", home=empty_home, tolerance=-1.0, replace_shipped=True)
    assert not empty_home.exists() or not any(empty_home.iterdir())  # no model, no staging leftovers


@pytest.mark.tf
@pytest.mark.slow
def test_replacing_the_shipped_model_needs_the_recorded_production_scores(official_tarball: Path, data_root: Path,
                                                                         tmp_path: Path, empty_home: Path):
    """--replace-shipped stores a conversion only if it scores the reference inputs within 1e-6 of the
    recorded production scores: recorded scores moved by 2e-6 (what another CPU's conversion gave) are refused."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("tf2onnx")
    import csv

    ref = tmp_path / "reference"
    shutil.copytree(data_root / "ztf" / "reference", ref)
    rows = list(csv.DictReader(open(ref / "dev_reference_scores.csv", newline="")))
    rows[0]["score_tf"] = repr(float(rows[0]["score_tf"]) + 2e-6)
    with open(ref / "dev_reference_scores.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    r = CliRunner().invoke(models, ["import", str(official_tarball), "--replace-shipped", "--home", str(empty_home),
                                    "--golden", str(data_root / "golden"), "--reference", str(ref)])
    assert r.exit_code == 1 and "recorded production scores" in r.output and "nothing was stored" in r.output
    assert not empty_home.exists() or not any(empty_home.iterdir())
