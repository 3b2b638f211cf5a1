"""A bounded fuzz run of the native reader and its tar reader (tests/fuzz/run_fuzz.py), and the seed
corpus check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

FUZZ = Path(__file__).resolve().parent / "fuzz"


def test_seed_corpus_is_current(tmp_path):
    """The committed corpus is exactly what make_corpus.py generates (synthetic, reproducible)."""
    subprocess.run([sys.executable, str(FUZZ / "make_corpus.py"), "--out", str(tmp_path)], check=True,
                   capture_output=True)
    fresh = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    committed = {p.name: p.read_bytes() for p in (FUZZ / "corpus").iterdir()}
    assert fresh == committed


def test_fuzz_20_seconds(tmp_path):
    proc = subprocess.run([sys.executable, str(FUZZ / "run_fuzz.py"), "--seconds", "20", "--engine", "random",
                           "--seed", "20260101", "--crash-dir", str(tmp_path / "crashes")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "no crash" in proc.stdout
