"""Check a ``btsbot-fast score`` CSV against the reference TensorFlow scores.

    btsbot-fast score ../shared/data/ztf/dev -o scores.csv
    python scripts/check_scores.py scores.csv ../shared/data/ztf/reference/dev_reference_scores.csv \
        --root ../shared/data/ztf/dev

Every reference alert (matched by source file relative to ``--root`` and candid) must be in the CSV with
status ok, a score within ``--tolerance`` (default 2e-6) of ``score_tf`` and on the same side of 0.5.
Standard library only, so it runs in an environment with nothing but ``pip install .``.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scores", help="the CSV written by btsbot-fast score")
    ap.add_argument("reference", help="dev_reference_scores.csv")
    ap.add_argument("--root", required=True, help="the directory the reference's source_file is relative to")
    ap.add_argument("--tolerance", type=float, default=2e-6)
    args = ap.parse_args(argv)

    with open(args.scores, newline="") as fh:
        ours = {}
        for row in csv.DictReader(fh):
            ours[(os.path.relpath(row["source"], args.root), row["candid"])] = row
    with open(args.reference, newline="") as fh:
        reference = list(csv.DictReader(fh))

    problems, worst = [], 0.0
    for ref in reference:
        key = (ref["source_file"], ref["candid"])
        row = ours.get(key)
        if row is None:
            problems.append(f"{key}: not in {args.scores}")
            continue
        if row["status"] != "ok":
            problems.append(f"{key}: status {row['status']} ({row['error']})")
            continue
        ours_score, tf_score = float(row["score"]), float(ref["score_tf"])
        diff = abs(ours_score - tf_score)
        worst = max(worst, diff)
        if diff > args.tolerance or (ours_score >= 0.5) != (tf_score >= 0.5):
            problems.append(f"{key}: score {ours_score!r}, reference {tf_score!r} (|diff| {diff:.3g})")
    print(f"{len(reference)} reference alerts, {len(ours)} rows scored; max |score - score_tf| = {worst:.3g} "
          f"(tolerance {args.tolerance:g})")
    if not reference:
        problems.append("the reference file has no rows")
    for p in problems[:20]:
        print("  " + p, file=sys.stderr)
    if problems:
        print(f"FAILED: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
