"""Cut the small real-data sample in ``tests/data/`` out of ``../shared/data``.

    python scripts/make_test_sample.py [--shared ../shared]

The sample has the layout of ``../shared/data`` (so the tests read either one through the same code):
``ztf/dev/...`` and ``ztf/broken/...`` (files copied byte for byte), ``ztf/dev_manifest.csv`` (the rows of
those files), ``ztf/reference/dev_reference_{scores.csv,triplets.npz,features.npz}`` (the rows of the
reference alerts among them), ``ztf/reference/dev_bts_filter.csv`` (the BTS filter reference rows of
those files), ``golden/`` (the first GOLDEN_ROWS of BTSbot's example inputs) and
``parquet/`` (a few rows of three Fink Parquet alert tables, rewritten with pyarrow, plus small whole
files, with their reference rows re-indexed). It writes ``tests/data/PROVENANCE.md`` saying where every
file came from. Budget: 6 MB in all.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import shutil
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "tests" / "data"
BUDGET = 6_000_000  # bytes
GOLDEN_ROWS = 6

#: files of ../shared/data/ztf/dev, chosen to cover schema versions (1.x-4.02), codecs (null, snappy),
#: writers (IPAC ztf.alert, Spark topLevelRecord, multi-record files) and the reference's edge cases
#: (CCD-edge stamps, NaN pixels, float32 L2 overflow -> zeroed channel, drb missing/zero, null history,
#: broker-test histories), plus records that must fail (missing cutouts, JPEG cutouts, corrupt Avro,
#: ZUDS schema)
DEV = [
    # reference alerts
    "ztf-avro-alert/396522680015040001__94c5066a.avro",       # schema 1.x, 41x63 stamps, drb missing
    "ztf-avro-alert/472263571115090000__e9477d44.avro",       # 2.0, template overflows float32 -> zeros
    "ztf-avro-alert/472263571115095005__951eb16b.avro",       # 2.0, history not before the candidate
    "ztf-avro-alert/472263571115115014__373c1e81.avro",       # 3.0, 63x53 stamps
    "ztf-avro-alert/472263571115115008__868527f6.avro",       # 3.1
    "ztf-avro-alert/1661382530015060001__9f072eb6.avro",      # 3.5 (a cutout-less copy is below)
    "Ampel-ZTF/misc/tests_test-data_schema_3.2.avro",         # 3.2
    "Ampel-ZTF/recent_alerts_20180615/522193343315015001.avro",  # 63x55 stamps with NaNs
    "Ampel-ZTF/ztf_public_20180601/alerts_ztf_public_20180601_516171791415015025.avro",
    "Ampel-ZTF/ztf_public_20180601/alerts_ztf_public_20180601_516171795115010001.avro",
    "alerce-pipeline/ZTF_samples/000010512225241827.avro",    # Spark 3.2 snappy, drb 0, zeroed template
    "alerce-pipeline/ZTF_samples/000010510553834249.avro",    # Spark 3.3 snappy, 43x63 stamps
    "alerce-pipeline/ZTF_samples/000010512603612966.avro",    # Spark 3.1 snappy, prv_candidates null
    "alerce-pipeline/ZTF_samples/000010512523733626.avro",    # Spark 3.0 snappy, 43x63 stamps
    "alerce-pipeline/ZTF_samples/0000105131888017541.avro",   # 3.3 null, zeroed template
    "alerce-pipeline/other_tests/ingestion_step_tests_data_avros_3044341005815015012.avro",  # 4.02
    # 3.3, second alert of ZTF20aajcdad (two-alert policies)
    "kowalski/data_ztf_alerts_20200202_1127536316315015004.avro",
    "kowalski/data_ztf_alerts_20200202_1127495406315015005.avro",  # 3.3
    "kowalski/data_ztf_alerts_20231012_2475433850415015002.avro",  # 4.01, zeroed template
    "boom/data_ztf_alerts_2475433850315015012.avro",  # 4.01 (the copy the reference row names)
    "boom/data_sample_alerts_2752190655615010066.avro",       # 4.02 with NaN pixels
    "pittgoogle-client/tests_data_sample_alerts_ztf_ztf_20250302_programid1_ZTF17aaarzyp_2982177112815010003.v4_02.avro",
    "fink-alert-schemas/datasim_basic_alerts_all_distribute_topics.avro",  # Fink 4.02 simulated history
    "fink-client/datatest_avro_multi_alerts_other.avro",      # three records in one file
    "fink-client/tests_data_fink-broker-sample-alert-1.avro",  # Fink topLevelRecord, zeroed template
    "alertbase/testdata_alertfiles_1311156250015010003.avro",  # 3.3
    "ztf-avro-alert/472263571115115000__f2f69f8b.avro",       # one candid in three schema versions:
    "ztf-avro-alert/472263571115115000__8f43d5fe.avro",       # 3.0, 3.1 and 3.2 copies, matched by file
    "ztf-avro-alert/472263571115115000__a05bbbe8.avro",
    "Ampel-ZTF/ztf_public_20180819_mod1000/595277915515015000.avro",  # 3.0, 51x63 stamps
    "alerce-pipeline/ZTF_samples/000010510300844919.avro",    # Spark 3.3 snappy, 48x63 stamps
    "alerce-pipeline/apf_avro_test/820128985115015000.avro",  # 3.2 with NaN pixels
    "boom/tests_data_alerts_ztf_2695378462115010012.avro",    # 4.02
    "kowalski/data_ztf_alerts_20231012_2475433850015015000.avro",  # 4.01, zeroed template
    # records that must fail, each with its reason
    "Ampel-ZTF/alerts_20210720_programid1/1661382530015060001.avro",  # cutouts missing (3.5)
    "Ampel-ZTF/ZTF18acruwxq/1391345455815015017.avro",        # cutouts missing (3.3)
    "Ampel-ZTF/ipac_2017/alerts_ipac_121540793515135006.avro",  # JPEG cutouts (2017 prototype)
    "Ampel-ZTF/ipac_2017/alerts_ipac_121540793515135009.avro",  # corrupt Avro
    "Ampel-ZTF/ztf_public_20180601/alerts_ztf_public_20180601_516401801315010009.avro",  # sync marker
    "Ampel-ZTF/ztf_public_20180601/alerts_ztf_public_20180601_516434762915010006.avro",  # corrupt Avro
    "Ampel-ZTF/zuds_20200106/185274089.avro",                 # ZUDS schema (not a ZTF alert)
]
#: files of ../shared/data/ztf/broken (packets that are not real survey output)
#: Fink Parquet alert tables (under ../shared/data/parquet/dev): rows kept (re-indexed 0..n-1 in the sample)
PARQUET_ROWS = {
    "fink-science/fink_science_data_alerts_alerts.parquet": [0, 1, 2, 3, 4, 5, 25],  # 25: zeroed template
    # rows 17/18 are copies of datatest part-00003's rows 0/1 (float32 columns widened to double)
    "fink-science/fink_science_data_alerts_superluminous_test_alerts.parquet": [0, 1, 17, 18],
    "fink-science/fink_science_data_alerts_datatest_part-00002-bdab8e46-89c4-4ac1-8603-facd71833e8a-c000.snappy.parquet":
        [0, 1],
    "fink-science/fink_science_data_alerts_datatest_part-00003-bdab8e46-89c4-4ac1-8603-facd71833e8a-c000.snappy.parquet":
        [0, 1],
}
#: small Parquet files copied whole: tables that are not alerts (their rows are error rows) and a catalogue
PARQUET_WHOLE = [
    "fink-science/fink_science_data_alerts_image_classification_example.parquet",
    "fink-science/fink_science_data_alerts_agn_example.parquet",
    "fink-science/b65fbc83__fink_science_data_alerts_agn_example.parquet",
    "fink-science/catalogs/fink_science_data_catalogs_CTAO_blazars_ztf_dr23.v7_2025.parquet",
]
BROKEN = [
    "_prototype_2017_jpeg_stamps/1726958725155000__eb518895.avro",
    "_prototype_2017_jpeg_stamps/87704463155000__b550e11e.avro",
    "_not_real_simulated_Ampel_uli/alerts_uli_test_alerts_Ia_Hsiao_v2_51.avro",
]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def provenance_lines(src: Path) -> dict[str, str]:
    """local file name -> the upstream line of the source folder's _provenance*.txt."""
    out = {}
    for f in src.parent.glob("_provenance*.txt"):
        for line in f.read_text().splitlines():
            if " -> " in line:
                out[line.rsplit(" -> ", 1)[1].strip()] = line.split(" -> ")[0].strip()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    args = ap.parse_args(argv)
    data = args.shared / "data"
    ztf = data / "ztf"

    for sub in ("ztf", "golden", "parquet"):
        shutil.rmtree(OUT / sub, ignore_errors=True)
    copied = []  # (relative path in the sample, source path)
    for rel in DEV:
        copied.append((Path("ztf/dev") / rel, ztf / "dev" / rel))
    for rel in BROKEN:
        copied.append((Path("ztf/broken") / rel, ztf / "broken" / rel))
    for dst, src in copied:
        (OUT / dst).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, OUT / dst)

    # manifest rows of the copied files (paths relative to ztf/dev, broken ones as ../broken/...)
    wanted = set(DEV) | {f"../broken/{b}" for b in BROKEN}
    with open(ztf / "dev_manifest.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        fields, manifest = reader.fieldnames, [r for r in reader if r["path"] in wanted]
    assert {r["path"] for r in manifest} == wanted, wanted - {r["path"] for r in manifest}
    _write_csv(OUT / "ztf" / "dev_manifest.csv", fields, manifest)

    # reference rows, triplets and features of the reference alerts among them
    ref_in, ref_out = ztf / "reference", OUT / "ztf" / "reference"
    ref_out.mkdir(parents=True)
    with open(ref_in / "dev_reference_scores.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        fields, rows = reader.fieldnames, [r for r in reader if r["source_file"] in set(DEV)]
    _write_csv(ref_out / "dev_reference_scores.csv", fields, rows)
    candids = sorted({r["candid"] for r in rows})
    _cut_arrays(ref_in, ref_out, "dev_reference", candids)
    # the BTS candidate filter's reference rows (the published filter code's verdicts) of the copied files
    with open(ref_in / "dev_bts_filter.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        fields, bts_rows = reader.fieldnames, [r for r in reader if r["file"] in set(DEV)]
    _write_csv(ref_out / "dev_bts_filter.csv", fields, bts_rows)

    # the first GOLDEN_ROWS of BTSbot's example inputs
    g_in, g_out = data / "golden", OUT / "golden"
    g_out.mkdir()
    np.save(g_out / "usage_triplets.npy", np.load(g_in / "usage_triplets.npy")[:GOLDEN_ROWS])
    lines = (g_in / "usage_candidates.csv").read_text().splitlines(keepends=True)
    (g_out / "usage_candidates.csv").write_text("".join(lines[: GOLDEN_ROWS + 1]))

    parquet_lines = _parquet_sample(data / "parquet")
    _write_provenance(copied, manifest, rows, candids, args.shared, parquet_lines, bts_rows)
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"tests/data: {len(copied)} alert files, {len(manifest)} manifest rows, {len(rows)} reference rows, "
          f"{total / 1e6:.2f} MB")
    if total > BUDGET:
        print(f"over the {BUDGET / 1e6:.0f} MB budget", file=sys.stderr)
        return 1
    return 0


def _parquet_sample(src: Path) -> list[str]:
    """Rows of PARQUET_ROWS rewritten, PARQUET_WHOLE copied; the reference rows cut and re-indexed."""
    import pyarrow.parquet as pq

    dev, out = src / "dev", OUT / "parquet" / "dev"
    new_index = {}  # (file, original row) -> row in the sample
    lines = []
    for rel, keep in PARQUET_ROWS.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        # timestamps as INT96, as Spark wrote the originals (Spark reads no nanosecond INT64 timestamps)
        pq.write_table(pq.read_table(dev / rel).take(keep), out / rel, use_deprecated_int96_timestamps=True)
        new_index.update({(rel, old): new for new, old in enumerate(keep)})
        lines.append(f"| `parquet/dev/{rel}` | rows {keep} of the original (sha256 {sha256(dev / rel)[:16]}), "
                     f"rewritten with pyarrow as rows 0..{len(keep) - 1} |")
    for rel in PARQUET_WHOLE:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(dev / rel, out / rel)
        lines.append(f"| `parquet/dev/{rel}` | whole file (sha256 {sha256(dev / rel)[:16]}) |")
    ref_in, ref_out = src / "reference", OUT / "parquet" / "reference"
    ref_out.mkdir(parents=True)
    with open(ref_in / "dev_parquet_reference_scores.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        fields, rows = reader.fieldnames, []
        for r in reader:
            key = (r["source_file"], int(r["row_index"]))
            if key not in new_index:
                continue
            copies = [c.rsplit("#", 1) for c in r["duplicate_copies"].split(";") if c]
            r["duplicate_copies"] = ";".join(f"{p}#{new_index[(p, int(i))]}" for p, i in copies
                                             if (p, int(i)) in new_index)
            r["row_index"] = str(new_index[key])
            rows.append(r)
    _write_csv(ref_out / "dev_parquet_reference_scores.csv", fields, rows)
    with open(ref_in / "dev_parquet_skipped.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        whole = set(PARQUET_WHOLE)
        _write_csv(ref_out / "dev_parquet_skipped.csv", reader.fieldnames,
                   [r for r in reader if r["source_file"] in whole])
    _cut_arrays(ref_in, ref_out, "dev_parquet_reference", sorted({r["candid"] for r in rows}))
    lines.append(f"| `parquet/reference/*` | the {len(rows)} reference rows of those rows (row_index and "
                 "duplicate_copies re-indexed), the skipped rows of the whole files, their triplets/features |")
    return lines


def _cut_arrays(ref_in: Path, ref_out: Path, stem: str, candids: list[str]) -> None:
    """``{stem}_triplets.npz`` (one array per candid) and ``{stem}_features.npz`` (per-row arrays, plus
    per-file ones such as feature_names kept whole) cut to ``candids``."""
    with np.load(ref_in / f"{stem}_triplets.npz") as t:
        np.savez_compressed(ref_out / f"{stem}_triplets.npz", **{c: t[c] for c in candids})
    with np.load(ref_in / f"{stem}_features.npz") as f:
        keep = np.isin(f["candid"].astype(str), candids)
        np.savez_compressed(ref_out / f"{stem}_features.npz",
                            **{k: (f[k][keep] if f[k].shape[:1] == keep.shape else f[k]) for k in f.files})


def _write_csv(path: Path, fields, rows) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def _write_provenance(copied, manifest, ref_rows, candids, shared: Path, parquet_lines, bts_rows) -> None:
    by_path = {}
    for r in manifest:
        by_path.setdefault(r["path"], []).append(r)
    n_ref = {}
    for r in ref_rows:
        n_ref[r["source_file"]] = n_ref.get(r["source_file"], 0) + 1
    out = io.StringIO()
    out.write("# tests/data: a small real sample, and where each file came from\n\n")
    out.write(
        "Cut from the project's reference folder (`../shared/data`, see its README) by\n"
        "`python scripts/make_test_sample.py`; the layout is the same, so the tests read either through one\n"
        "loader (`tests/conftest.py`): the full set when `../shared` (or `$BTSBOT_FAST_SHARED`) is there, this\n"
        "sample otherwise. Alert files are byte-for-byte copies of real packets from public repositories\n"
        "(`ztf/dev/<repository>/...`) and of non-survey packets (`ztf/broken/`). The CSV/NPZ files are the\n"
        "rows of those files cut from `ztf/dev_manifest.csv` and `ztf/reference/dev_reference_*` (the\n"
        "production code's triplets, features and TensorFlow scores for the usable alerts); `golden/` holds\n"
        f"the first {GOLDEN_ROWS} of BTSbot's own example inputs (`data/golden`: upstream\n"
        "`btsbot/example_data/usage_{triplets.npy,candidates.csv}`, nabeelre/BTSbot @ f428120, MIT).\n\n")
    out.write(f"{len(manifest)} records in {len(copied)} files; {len(ref_rows)} reference rows "
              f"({len(candids)} distinct candids).\n\n")
    evaluated = [r for r in bts_rows if not r["error"]]
    out.write(f"`ztf/reference/dev_bts_filter.csv`: the {len(bts_rows)} rows of those files cut from the reference "
              "run of the published BTS\ncandidate filter code (dperley/ztf-bts-filters `rcf2020.py`, gal_lat from "
              f"astropy; same columns): {len(evaluated)} evaluated\n"
              f"({sum(r['bts_candidate'] == 'True' for r in evaluated)} "
              f"pass), {len(bts_rows) - len(evaluated)} where the code raised (`error` names the field).\n\n")
    out.write("| file (under tests/data) | sha256 (first 16) | records | schema | codec | cutouts | reference "
              "rows | manifest note | upstream (from the source folder's _provenance file) |\n")
    out.write("|---|---|---|---|---|---|---|---|---|\n")
    for dst, src in copied:
        key = (str(dst.relative_to("ztf/dev")) if dst.parts[1] == "dev"
               else "../broken/" + str(dst.relative_to("ztf/broken")))
        rs = by_path[key]
        r = rs[0]
        prov = provenance_lines(src).get(src.name, "")
        schema = f"{r['schema_name']} {r['schemavsn']}".strip()
        out.write(f"| `{dst}` | {sha256(src)[:16]} | {len(rs)} | {schema} | {r['codec']} | {r['cutout_format']} | "
                  f"{n_ref.get(key, 0)} | {r['note']} | {prov} |\n")
    out.write("\n## Parquet (from `../shared/data/parquet`: Fink's fink-science test sets, see its "
              "`_provenance_all_fink-science.txt`)\n\n| file | what |\n|---|---|\n")
    out.write("\n".join(parquet_lines) + "\n")
    (OUT / "PROVENANCE.md").write_text(out.getvalue())


if __name__ == "__main__":
    sys.exit(main())
