"""The native preprocessing core (btsbot_fast._core) against the production reference and astropy.

Tolerances (spec btsbot-v1 sections 2-3): triplets within 2e-7 absolute per pixel of the reference, with
channels the reference has exactly zero (overflowed templates) exactly zero here too; features equal the
reference float32 values exactly; decoded stamps equal astropy's bit for bit. Synthetic FITS/gzip inputs
for the error cases are built here.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import threading
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from btsbot_fast import Status
from btsbot_fast.prep import reference as twin
from btsbot_fast.prep.variant import CANDIDATE_COLUMNS, FEATURE_NAMES, INFO_ONLY_COLUMNS, PAD_VALUE, STAMP_SIZE

_core = pytest.importorskip("btsbot_fast._core")
fastavro = pytest.importorskip("fastavro")
T = _core._testing  # the per-stage hooks

REPO = Path(__file__).resolve().parents[1]
CUTOUTS = ("cutoutScience", "cutoutTemplate", "cutoutDifference")
TRIPLET_ATOL = 2e-7
FLT_MAX = np.float32(3.4028235e38)


# ----------------------------------------------------------------------------------------------------
# helpers: records -> native inputs


def record_candid(rec: dict) -> int:
    cid = rec.get("candid")
    return int(cid if cid is not None else rec["candidate"]["candid"])


def stamp_of(rec: dict, field: str) -> bytes | None:
    cut = rec.get(field)
    return None if cut is None else cut.get("stampData")


def candidate_matrix(records: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """(values, present): the candidate columns as float64 and the null mask of the missing-data rule."""
    out = np.full((len(records), len(CANDIDATE_COLUMNS)), np.nan)
    present = np.zeros(len(records), np.uint64)
    for i, rec in enumerate(records):
        cand = rec["candidate"]
        present[i] = _core.CANDIDATE_RECORD_BIT
        for j, col in enumerate(CANDIDATE_COLUMNS):
            v = cand.get(col)
            if v is not None:
                out[i, j] = float(v in ("t", "1")) if col == "isdiffpos" else float(v)
                present[i] |= np.uint64(1 << j)
    return out, present


def history_arrays(records: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every prv_candidates item (the core picks the detections), with its null flags: offsets, jd,
    magpsf, fid, flags."""
    offsets = [0]
    jd: list[float] = []
    mag: list[float] = []
    fid: list[float] = []
    flags: list[int] = []
    for rec in records:
        for p in rec.get("prv_candidates") or []:
            item = isinstance(p, dict)
            pjd, pmag, pfid = (p.get("jd"), p.get("magpsf"), p.get("fid")) if item else (None, None, None)
            jd.append(np.nan if pjd is None else float(pjd))
            mag.append(np.nan if pmag is None else float(pmag))
            fid.append(np.nan if pfid is None else float(pfid))
            flags.append((_core.HIST_ITEM if item else 0) | (_core.HIST_JD if pjd is not None else 0)
                         | (_core.HIST_MAG if pmag is not None else 0) | (_core.HIST_FID if pfid is not None else 0)
                         | (_core.HIST_POSITIVE if item and p.get("isdiffpos") in ("t", "1") else 0))
        offsets.append(len(jd))
    return (np.asarray(offsets, np.int64), np.asarray(jd, np.float64), np.asarray(mag, np.float64),
            np.asarray(fid, np.float64), np.asarray(flags, np.uint8))


def stamps(records: list[dict]) -> tuple[list, list, list]:
    return tuple([stamp_of(r, f) for r in records] for f in CUTOUTS)  # type: ignore[return-value]


def run_triplets(sci, tmpl, diff, n_threads=0):
    out = np.zeros((len(sci), STAMP_SIZE, STAMP_SIZE, 3), np.float32)
    status, messages = T.prepare_triplets(sci, tmpl, diff, out, n_threads=n_threads)
    return out, status, messages


def run_features(records: list[dict]):
    cand, present = candidate_matrix(records)
    out = np.zeros((len(records), len(FEATURE_NAMES)), np.float32)
    status, messages = T.compute_features(cand, present, *history_arrays(records), out)
    return out, status, messages


# ----------------------------------------------------------------------------------------------------
# helpers: synthetic FITS


def fits_bytes(data: np.ndarray | None = None, *, bitpix: int = -32, naxes: tuple[int, ...] | None = None,
               extra: list[str] = (), simple: str = "SIMPLE  =                    T") -> bytes:
    """A primary-HDU FITS file written card by card (so invalid headers can be made too)."""
    if naxes is None:
        naxes = tuple(reversed(data.shape))  # NAXIS1 = width = last numpy axis
    cards = [simple, f"BITPIX  = {bitpix:>20d}", f"NAXIS   = {len(naxes):>20d}"]
    cards += [f"NAXIS{i + 1:<3d}= {n:>20d}" for i, n in enumerate(naxes)]
    cards += list(extra) + ["END"]
    header = "".join(c.ljust(80)[:80] for c in cards).encode("ascii")
    header += b" " * (-len(header) % 2880)
    payload = b"" if data is None else np.ascontiguousarray(data).astype(data.dtype.newbyteorder(">")).tobytes()
    payload += b"\0" * (-len(payload) % 2880)
    return header + payload


def gz(raw: bytes) -> bytes:
    return gzip.compress(raw, mtime=0)


def rand_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(100.0, 15.0, size=(h, w)).astype(np.float32)


# ----------------------------------------------------------------------------------------------------
# reference data


@pytest.fixture(scope="module")
def ref_alerts(reference):
    """The reference alerts' decoded records, aligned with their reference triplets and features
    (``reference`` is the shared loader in conftest.py)."""
    wanted: dict[str, set[int]] = defaultdict(set)
    for r in reference.rows:
        wanted[r["source_file"]].add(int(r["candid"]))
    by_candid: dict[int, dict] = {}
    for source, cids in wanted.items():
        with open(reference.dev / source, "rb") as fh:
            for rec in fastavro.reader(fh):
                cid = record_candid(rec)
                if cid in cids:
                    by_candid[cid] = rec
    candids = [int(c) for c in reference.feature_candids]
    assert set(candids) == set(by_candid), "every reference alert must be found in its source file"
    return {
        "candids": candids,
        "records": [by_candid[c] for c in candids],
        "features": np.stack([reference.features[str(c)] for c in candids]),
        "feature_names": reference.feature_names,
        "triplets": np.stack([reference.triplets[str(c)] for c in candids]),
    }


# ----------------------------------------------------------------------------------------------------
# module contract


def test_module_constants():
    assert _core.STAMP_SIZE == STAMP_SIZE == 63
    assert _core.N_FEATURES == len(FEATURE_NAMES) == 25
    assert _core.N_CANDIDATE_COLUMNS == len(CANDIDATE_COLUMNS)
    assert _core.inflater.startswith("libdeflate ") and _core.inflater.endswith("(vendored)")


def test_status_header_matches_python():
    text = (REPO / "csrc" / "status.hpp").read_text()
    native = {name: int(v) for name, v in re.findall(r"^\s*(\w+)\s*=\s*(\d+)\s*,", text, re.M)}
    camel = {s.name: "".join(p.title() for p in s.name.split("_")) for s in Status}
    assert {camel[s.name]: int(s) for s in Status} == native


def test_candidate_columns_order_matches_variant():
    """Nulling each required column names exactly that column: the C++ column order is variant.py's."""
    n = len(CANDIDATE_COLUMNS)
    cand = np.tile(np.arange(1.0, n + 1.0), (n, 1))
    present = np.full(n, _core.CANDIDATE_RECORD_BIT | ((1 << n) - 1), np.uint64)
    required = [j for j, c in enumerate(CANDIDATE_COLUMNS) if c not in ("drb", "rb", *INFO_ONLY_COLUMNS)]
    for j in required:
        present[j] &= ~np.uint64(1 << j)
    out = np.zeros((n, 25), np.float32)
    status, msgs = T.compute_features(cand, present, np.zeros(n + 1, np.int64), np.zeros(0), np.zeros(0),
                                      np.zeros(0), np.zeros(0, np.uint8), out)
    for j, col in enumerate(CANDIDATE_COLUMNS):
        if j in required:
            assert status[j] == Status.MISSING_FIELD
            assert msgs[j] == f"missing field: candidate.{col}"
            assert np.isnan(out[j]).all()
        else:
            assert status[j] == Status.OK and msgs[j] == ""


# ----------------------------------------------------------------------------------------------------
# parity with the production reference


def test_reference_triplets(ref_alerts):
    sci, tmpl, diff = stamps(ref_alerts["records"])
    out, status, msgs = run_triplets(sci, tmpl, diff, n_threads=2)
    assert list(status) == [Status.OK] * len(sci), [m for m in msgs if m]
    ref = ref_alerts["triplets"]
    assert np.isfinite(out).all()
    max_abs = float(np.max(np.abs(out - ref)))
    assert max_abs <= TRIPLET_ATOL, max_abs
    # channels the reference has exactly zero (float32 norm overflow) are exactly zero here
    zero_ref = np.all(ref == 0, axis=(1, 2))  # (N, 3)
    assert zero_ref.sum() >= 1
    assert np.all(out.transpose(0, 3, 1, 2)[zero_ref] == 0)
    # and nothing else is all-zero
    assert np.array_equal(np.all(out == 0, axis=(1, 2)), zero_ref)


def test_reference_small_stamps_padded(ref_alerts):
    """Reference alerts with clipped (CCD-edge) stamps: padding is exactly 1e-9 at bottom/right."""
    recs = ref_alerts["records"]
    sci, tmpl, diff = stamps(recs)
    out, status, _ = run_triplets(sci, tmpl, diff, n_threads=1)
    n_small = 0
    for i, s in enumerate(sci):
        h, w = T.decode_stamp(s).shape
        if (h, w) != (63, 63):
            n_small += 1
            assert np.all(out[i, h:, :, :] == np.float32(PAD_VALUE))
            assert np.all(out[i, :, w:, :] == np.float32(PAD_VALUE))
            assert np.array_equal(out[i, h:, :, :], ref_alerts["triplets"][i, h:, :, :])
    assert n_small >= 3  # the tests/data sample has 6 such alerts, ../shared more


def test_reference_features_exact(ref_alerts):
    assert [n for n in ref_alerts["feature_names"]] == [
        {"drb": "new_drb"}.get(n, n) for n in FEATURE_NAMES
    ]
    out, status, msgs = run_features(ref_alerts["records"])
    assert list(status) == [Status.OK] * len(out), [m for m in msgs if m]
    mismatch = np.argwhere(out.view(np.uint32) != ref_alerts["features"].view(np.uint32))
    assert mismatch.size == 0, [(ref_alerts["candids"][i], FEATURE_NAMES[j]) for i, j in mismatch[:10]]


def test_preprocess_equals_parts(ref_alerts):
    recs = ref_alerts["records"]
    sci, tmpl, diff = stamps(recs)
    cand, present = candidate_matrix(recs)
    trip = np.zeros((len(recs), 63, 63, 3), np.float32)
    meta = np.zeros((len(recs), 25), np.float32)
    bts = np.zeros(len(recs), np.uint16)
    status, msgs = _core.preprocess(sci, tmpl, diff, cand, present, *history_arrays(recs), trip, meta, bts,
                                    n_threads=2)
    assert list(status) == [Status.OK] * len(recs)
    assert msgs == [""] * len(recs)
    t2, _, _ = run_triplets(sci, tmpl, diff, n_threads=1)
    f2, _, _ = run_features(recs)
    assert np.array_equal(trip, t2) and np.array_equal(meta, f2)


def test_dev_manifest_failures(data_root: Path):
    """Every decodable real ZTF record the reference leaves out for its cutouts fails with the right status."""
    base = data_root / "ztf" / "dev"
    rows = [r for r in csv.DictReader(open(data_root / "ztf" / "dev_manifest.csv", newline=""))
            if r["in_reference"] == "no" and r["schema_name"] == "ztf.alert"]
    by_path: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_path[r["path"]].append(r)
    records, expect = [], []
    for path, rs in by_path.items():
        with open(base / path, "rb") as fh:
            recs = list(fastavro.reader(fh))
        for r in rs:
            records.append(recs[int(r["record_index"] or 0)])
            expect.append(r)
    assert len(records) == len(rows) > 0
    _, status, msgs = run_triplets(*stamps(records))
    n_jpeg = 0
    for st, msg, r in zip(status, msgs, expect):
        if r["cutout_format"] == "jpeg":
            n_jpeg += 1
            assert st == Status.BAD_CUTOUT and "not a FITS file (JPEG)" in msg, msg
        elif r["note"] == "cutout missing":
            assert st == Status.MISSING_CUTOUT and "missing" in msg, msg
    assert n_jpeg == sum(r["cutout_format"] == "jpeg" for r in rows) > 0


def test_prototype_jpeg_packets(data_root: Path):
    folder = data_root / "ztf" / "broken" / "_prototype_2017_jpeg_stamps"
    records = []
    for f in sorted(folder.glob("*.avro")):
        with open(f, "rb") as fh:
            records.extend(fastavro.reader(fh))
    assert records
    _, status, msgs = run_triplets(*stamps(records))
    assert all(s == Status.BAD_CUTOUT for s in status)
    assert all(m == "cutoutScience: not a FITS file (JPEG)" for m in msgs), msgs
    with pytest.raises(ValueError, match=r"not a FITS file \(JPEG\)"):
        T.decode_stamp(stamp_of(records[0], "cutoutScience"))


# ----------------------------------------------------------------------------------------------------
# decode_stamp


def test_decode_stamp_equals_astropy(ref_alerts):
    fits = pytest.importorskip("astropy.io.fits")
    import warnings

    recs = ref_alerts["records"][::3]
    n = 0
    for rec in recs:
        for field in CUTOUTS:
            data = stamp_of(rec, field)
            ours = T.decode_stamp(data)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ZTF's SIMPLE card is not fixed-format
                with fits.open(io.BytesIO(gzip.decompress(data))) as hdul:
                    theirs = np.asarray(hdul[0].data, dtype=np.float32)
            assert ours.dtype == np.float32 and ours.flags.c_contiguous
            assert ours.shape == theirs.shape
            assert np.array_equal(ours.view(np.uint32), theirs.view(np.uint32))  # bitwise, NaNs included
            n += 1
    assert n == 3 * len(recs) > 0


def test_decode_stamp_bscale_bzero_like_astropy():
    fits = pytest.importorskip("astropy.io.fits")
    img = rand_image(40, 63, seed=3)
    raw = fits_bytes(img, extra=["BSCALE  =                  2.5", "BZERO   =               -0.125"])
    ours = T.decode_stamp(gz(raw))
    with fits.open(io.BytesIO(raw)) as hdul:
        theirs = np.asarray(hdul[0].data, dtype=np.float32)
    assert ours.shape == (40, 63)
    assert np.array_equal(ours, theirs)
    assert not np.array_equal(ours, img)


def test_decode_stamp_keeps_row_order_and_shape():
    img = np.arange(50 * 63, dtype=np.float32).reshape(50, 63)  # 50 rows (NAXIS2), 63 columns (NAXIS1)
    assert np.array_equal(T.decode_stamp(gz(fits_bytes(img))), img)


def test_decode_stamp_lenient_cards():
    img = rand_image(63, 63)
    raw = fits_bytes(img, simple="SIMPLE  =  T / not fixed format",
                     extra=["COMMENT   free text = with an equals sign", "BUNIT   = 'DN      '"])
    assert np.array_equal(T.decode_stamp(gz(raw)), img)


def test_gzip_members_and_padding():
    img = rand_image(63, 63, seed=5)
    raw = fits_bytes(img)
    cut = len(raw) // 3
    assert np.array_equal(T.decode_stamp(gz(raw[:cut]) + gz(raw[cut:])), img)  # two members
    assert np.array_equal(T.decode_stamp(gz(raw) + b"\0" * 16), img)  # zero padding
    with pytest.raises(ValueError, match="trailing garbage"):
        T.decode_stamp(gz(raw) + b"junk")


def test_gzip_bomb_rejected():
    with pytest.raises(ValueError, match="decompressed stamp too large"):
        T.decode_stamp(gz(b"\0" * (10 * 1024 * 1024)))


# ----------------------------------------------------------------------------------------------------
# error cases through the batch call (never an exception)

GOOD = gz(fits_bytes(rand_image(63, 63, seed=1)))


def _bad_cases() -> dict[str, tuple[bytes | None, int, str]]:
    good_raw = fits_bytes(rand_image(63, 63, seed=2))
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + bytes(200)
    return {
        "bad_gzip": (b"\x1f\x8b\x08\x00" + bytes(range(256)) * 4, Status.BAD_CUTOUT, "gzip"),
        "truncated_gzip": (gz(good_raw)[:200], Status.BAD_CUTOUT, "truncated"),
        "not_gzip": (b"hello world, definitely not a stamp", Status.BAD_CUTOUT, "not gzip"),
        "empty_bytes": (b"", Status.BAD_CUTOUT, "empty stampData"),
        "gzip_of_text": (gz(b"this is not FITS at all" * 10), Status.BAD_CUTOUT, "not a FITS file"),
        "jpeg": (jpeg, Status.BAD_CUTOUT, "not a FITS file (JPEG)"),
        "gzip_of_jpeg": (gz(jpeg), Status.BAD_CUTOUT, "not a FITS file (JPEG)"),
        "bitpix16": (gz(fits_bytes(np.ones((63, 63), np.int16), bitpix=16)), Status.BAD_CUTOUT, "BITPIX 16"),
        "naxis3": (gz(fits_bytes(np.ones((2, 63, 63), np.float32))), Status.BAD_CUTOUT, "NAXIS 3"),
        "64x64": (gz(fits_bytes(rand_image(64, 64))), Status.BAD_CUTOUT, "larger than 63x63: 64x64"),
        "63x64": (gz(fits_bytes(rand_image(63, 64))), Status.BAD_CUTOUT, "larger than 63x63: 63x64"),
        "truncated_data": (gz(good_raw[: 2880 + 4000]), Status.BAD_CUTOUT, "truncated FITS data"),
        "no_end_card": (gz(good_raw[:2880].replace(b"END" + b" " * 77, b" " * 80)), Status.BAD_CUTOUT,
                        "no END card"),
        "huge_dims": (gz(fits_bytes(None, naxes=(100000, 100000))), Status.BAD_CUTOUT, "truncated FITS data"),
        "all_zero": (gz(fits_bytes(np.zeros((63, 63), np.float32))), Status.EMPTY_CUTOUT, "empty cutout"),
        "all_nan": (gz(fits_bytes(np.full((63, 63), np.nan, np.float32))), Status.EMPTY_CUTOUT, "empty cutout"),
        "none": (None, Status.MISSING_CUTOUT, "missing cutout"),
    }


BAD_CASES = _bad_cases()
LIBRARY_WORDED = {"bad_gzip", "truncated_gzip", "truncated_data", "no_end_card", "huge_dims", "gzip_of_text"}


@pytest.mark.parametrize("channel", [0, 1, 2])
@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_cutout_status(case, channel):
    payload, code, needle = BAD_CASES[case]
    chans = [[GOOD, GOOD], [GOOD, GOOD], [GOOD, GOOD]]
    chans[channel][1] = payload  # alert 0 stays good, alert 1 is bad in one channel
    out, status, msgs = run_triplets(*chans, n_threads=2)
    assert list(status) == [Status.OK, code]
    assert msgs[0] == ""
    assert msgs[1].startswith(CUTOUTS[channel] + ": ") and needle in msgs[1], msgs[1]
    assert np.isnan(out[1]).all()
    assert np.isfinite(out[0]).all()
    # the NumPy twin gives the same status, and the same message except where the wording comes from a
    # library (zlib / astropy describing damaged data)
    with pytest.raises(twin.PreprocessError) as exc:
        twin.triplet([c[1] for c in chans])
    assert exc.value.status == code
    if case in LIBRARY_WORDED:
        assert exc.value.message.startswith(CUTOUTS[channel] + ": ")
    else:
        assert exc.value.message == msgs[1]


def test_decode_and_normalise_raise_value_error():
    with pytest.raises(ValueError, match="BITPIX 16"):
        T.decode_stamp(BAD_CASES["bitpix16"][0])
    with pytest.raises(ValueError, match="empty cutout"):
        T.normalise_channel(np.zeros((63, 63), np.float32))
    with pytest.raises(ValueError, match="larger than 63x63"):
        T.normalise_channel(np.ones((64, 63), np.float32))


# ----------------------------------------------------------------------------------------------------
# the channel rule


@pytest.mark.parametrize("shape", [(63, 63), (63, 50), (41, 63), (1, 1)])
def test_small_stamp_padding(shape):
    img = rand_image(*shape, seed=7)
    ours = T.normalise_channel(img)
    assert ours.shape == (63, 63) and ours.dtype == np.float32
    h, w = shape
    assert np.all(ours[h:, :] == np.float32(1e-9)) and np.all(ours[:, w:] == np.float32(1e-9))
    assert np.abs(ours - twin.normalise_channel(img)).max() <= 1e-7  # float64 vs float64 sums: at most 1 ulp of norm
    # the same through the batch path, in the right channel slot
    out, status, _ = run_triplets([GOOD], [gz(fits_bytes(img))], [GOOD])
    assert status[0] == Status.OK
    assert np.array_equal(out[0, :, :, 1], ours)


def test_nan_inf_rule_and_overflow():
    img = rand_image(63, 63, seed=9)
    img[0, 0] = np.nan
    img[1, 1] = np.inf
    img[2, 2] = -np.inf
    ours = T.normalise_channel(img)
    assert ours[0, 0] == 0
    # +-inf -> +-FLT_MAX -> the float32 norm overflows -> every pixel becomes a (signed) zero
    assert np.all(ours == 0)
    assert np.signbit(ours[2, 2]) and not np.signbit(ours[1, 1])
    sentinel = rand_image(63, 63, seed=10)
    sentinel[:, :5] = -FLT_MAX  # ZTF's bad-template-pixel marker
    assert np.all(T.normalise_channel(sentinel) == 0)
    one = rand_image(63, 63, seed=11)
    one[3, 3] = FLT_MAX  # a single FLT_MAX: sqrt(sum) still rounds to FLT_MAX -> finite, no overflow
    res = T.normalise_channel(one)
    assert res[3, 3] == np.float32(1.0) and np.array_equal(res, twin.normalise_channel(one))


def test_normalise_matches_twin_on_real_stamps(ref_alerts):
    for rec in ref_alerts["records"][:40]:
        for field in CUTOUTS:
            img = T.decode_stamp(stamp_of(rec, field))
            assert np.abs(T.normalise_channel(img) - twin.normalise_channel(img)).max() <= 1e-7


# ----------------------------------------------------------------------------------------------------
# features on synthetic inputs


def twin_features(cand: dict, hist: list[tuple[float, float | None]]) -> np.ndarray:
    """The project's NumPy twin on the same inputs, as dicts the way fastavro would give them."""
    return twin.features(cand, [{"jd": j, "magpsf": m} for j, m in hist])


def _cand(**over) -> dict:
    rng = np.random.default_rng(len(over))
    c = {col: float(np.float32(rng.uniform(0.1, 20))) for col in CANDIDATE_COLUMNS}
    c.update(jd=2460000.7654321, jdstarthist=2459990.5, magpsf=18.25, ndethist=7.0, ncovhist=40.0)
    c.update(over)
    return c


@pytest.mark.parametrize("name, cand, hist", [
    ("no_history", _cand(), []),
    ("non_detections_skipped", _cand(), [(2459999.5, None), (2459995.5, 19.0), (2459980.1, None)]),
    ("unsorted_and_later_entries", _cand(), [(2460003.5, 17.5), (2459995.5, 17.5), (2459991.0, 19.5)]),
    ("tie_keeps_first", _cand(magpsf=17.5), [(2459995.5, 17.5), (2459996.5, 17.5)]),
    ("history_before_jdstarthist", _cand(), [(2459980.25, 18.0)]),
    ("drb_null_uses_rb", _cand(drb=None, rb=0.625), [(2459995.5, 18.5)]),
    ("drb_zero_kept", _cand(drb=0.0, rb=0.9), []),
    ("all_fainter_than_30", _cand(magpsf=31.0), [(2459995.5, 32.0)]),
])
def test_features_synthetic(name, cand, hist):
    mat, present = candidate_matrix([{"candidate": cand}])
    off, jd, mag, fid, flags = history_arrays([{"prv_candidates": [{"jd": j, "magpsf": m} for j, m in hist]}])
    out = np.zeros((1, 25), np.float32)
    status, msgs = T.compute_features(mat, present, off, jd, mag, fid, flags, out)
    assert status[0] == Status.OK and msgs == [""]
    assert np.array_equal(out[0], twin_features(cand, hist))


def test_features_missing_drb_and_rb():
    mat, present = candidate_matrix([{"candidate": _cand(drb=None, rb=None)}])
    out = np.zeros((1, 25), np.float32)
    status, msgs = T.compute_features(mat, present, np.array([0, 0], np.int64), np.zeros(0), np.zeros(0),
                                      np.zeros(0), np.zeros(0, np.uint8), out)
    assert status[0] == Status.MISSING_FIELD and "candidate.drb" in msgs[0]


def test_preprocess_first_failure_wins(ref_alerts):
    recs = ref_alerts["records"][:5]
    sci, tmpl, diff = stamps(recs)
    cand, present = candidate_matrix(recs)
    bit = np.uint64(1 << CANDIDATE_COLUMNS.index("sgscore1"))
    present[1] &= ~bit  # alert 1: missing field
    present[2] &= ~bit  # alert 2: missing field and a missing cutout
    tmpl[2] = None
    present[4] = 0  # alert 4: no candidate at all (checked before any cutout)
    sci[4] = b"not gzip"
    trip = np.full((5, 63, 63, 3), 7, np.float32)
    meta = np.full((5, 25), 7, np.float32)
    bts = np.zeros(5, np.uint16)
    status, msgs = _core.preprocess(sci, tmpl, diff, cand, present, *history_arrays(recs), trip, meta, bts,
                                    n_threads=3)
    assert list(status) == [Status.OK, Status.MISSING_FIELD, Status.MISSING_CUTOUT, Status.OK, Status.MISSING_FIELD]
    assert msgs[1] == "missing field: candidate.sgscore1"
    assert msgs[2] == "cutoutTemplate: missing cutout"
    assert msgs[4] == "missing field: candidate"
    assert not trip[[1, 2, 4]].any() and not meta[[1, 2, 4]].any()  # failed rows hold zeros
    assert np.isfinite(trip[[0, 3]]).all() and np.isfinite(meta[[0, 3]]).all()


# ----------------------------------------------------------------------------------------------------
# threads, the GIL, argument validation


def test_threads_give_identical_results(ref_alerts):
    sci, tmpl, diff = stamps(ref_alerts["records"])
    sci, tmpl, diff = sci * 4, tmpl * 4, diff * 4
    sci[7] = b"garbage"  # failures too
    a, sa, ma = run_triplets(sci, tmpl, diff, n_threads=1)
    b, sb, mb = run_triplets(sci, tmpl, diff, n_threads=4)
    c, sc, mc = run_triplets(sci, tmpl, diff, n_threads=0)
    assert np.array_equal(a, b, equal_nan=True) and np.array_equal(a, c, equal_nan=True)
    assert np.array_equal(sa, sb) and np.array_equal(sa, sc) and ma == mb == mc


def test_concurrent_python_threads(ref_alerts):
    """The batch call releases the GIL and keeps no shared state: two Python threads at once agree."""
    sci, tmpl, diff = stamps(ref_alerts["records"])
    sci, tmpl, diff = sci * 3, tmpl * 3, diff * 3
    expected, _, _ = run_triplets(sci, tmpl, diff, n_threads=1)
    results: dict[int, np.ndarray] = {}

    def work(k: int) -> None:
        results[k] = run_triplets(sci, tmpl, diff, n_threads=1)[0]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(results[k], expected) for k in range(2))


def test_accepts_buffer_objects():
    out, status, _ = run_triplets([memoryview(GOOD)], [bytearray(GOOD)], [GOOD])
    assert status[0] == Status.OK
    ref, _, _ = run_triplets([GOOD], [GOOD], [GOOD])
    assert np.array_equal(out, ref)


def test_argument_validation():
    ok = [GOOD]
    with pytest.raises(ValueError, match="float32"):
        T.prepare_triplets(ok, ok, ok, np.zeros((1, 63, 63, 3), np.float64))
    with pytest.raises(ValueError, match="shape"):
        T.prepare_triplets(ok, ok, ok, np.zeros((1, 63, 63, 2), np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        T.prepare_triplets(ok, ok, ok, np.zeros((1, 63, 63, 6), np.float32)[..., ::2])
    with pytest.raises(ValueError, match="N = 2"):
        T.prepare_triplets(ok, ok, ok, np.zeros((2, 63, 63, 3), np.float32))
    ro = np.zeros((1, 63, 63, 3), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        T.prepare_triplets(ok, ok, ok, ro)
    with pytest.raises(TypeError, match="bytes or None"):
        T.prepare_triplets(["a string"], ok, ok, np.zeros((1, 63, 63, 3), np.float32))
    n = len(CANDIDATE_COLUMNS)
    cand = np.zeros((2, n))
    pres = np.zeros(2, np.uint64)
    out = np.zeros((2, 25), np.float32)
    f3, f0 = np.zeros(3, np.uint8), np.zeros(0, np.uint8)
    with pytest.raises(ValueError, match="hist_offsets"):
        T.compute_features(cand, pres, np.array([0, 3, 1], np.int64), np.zeros(3), np.zeros(3), np.zeros(3), f3, out)
    with pytest.raises(ValueError, match="hist_offsets"):
        T.compute_features(cand, pres, np.array([0, 1, 5], np.int64), np.zeros(3), np.zeros(3), np.zeros(3), f3, out)
    with pytest.raises(ValueError, match="candidate"):
        T.compute_features(np.zeros((2, n - 1)), pres, np.zeros(3, np.int64), np.zeros(0), np.zeros(0), np.zeros(0),
                           f0, out)
    with pytest.raises(ValueError, match="int64"):
        T.compute_features(cand, pres, np.zeros(3, np.int32), np.zeros(0), np.zeros(0), np.zeros(0), f0, out)
    with pytest.raises(ValueError, match="hist_magpsf"):
        T.compute_features(cand, pres, np.zeros(3, np.int64), np.zeros(2), np.zeros(1), np.zeros(2),
                           np.zeros(2, np.uint8), out)
    with pytest.raises(ValueError, match="hist_fid"):
        T.compute_features(cand, pres, np.zeros(3, np.int64), np.zeros(2), np.zeros(2), np.zeros(1),
                           np.zeros(2, np.uint8), out)
    with pytest.raises(ValueError, match="hist_flags"):
        T.compute_features(cand, pres, np.zeros(3, np.int64), np.zeros(2), np.zeros(2), np.zeros(2),
                           np.zeros(1, np.uint8), out)
    with pytest.raises(ValueError, match="float64"):
        T.compute_features(cand.astype(">f8"), pres, np.zeros(3, np.int64), np.zeros(0), np.zeros(0), np.zeros(0),
                           f0, out)
    with pytest.raises(ValueError, match="uint64"):
        T.compute_features(cand, pres.astype(np.int64), np.zeros(3, np.int64), np.zeros(0), np.zeros(0), np.zeros(0),
                           f0, out)


def test_empty_batch():
    out = np.zeros((0, 63, 63, 3), np.float32)
    status, msgs = T.prepare_triplets([], [], [], out)
    assert status.shape == (0,) and status.dtype == np.uint8 and msgs == []
