"""``verify_shipped``: prove that the ONNX file shipped with the package is the official model.

The official tarball is imported again into a throw-away cache (sha256 checked against the registry entry,
converted with tf2onnx, gated against TensorFlow on the built-in probe), then the shipped ONNX, the fresh
conversion and TensorFlow itself score the same inputs: the seeded probe batch, BTSbot's own golden
example inputs and the preprocessed inputs of real reference alerts. The shipped file passes when it
agrees with the fresh conversion and with TensorFlow within the tolerance on every input.

Needs the ``[tf]`` extra. The golden and reference inputs are read from directories laid out like
``../shared/data``: ``golden/usage_{triplets.npy,candidates.csv}`` and
``ztf/reference/dev_reference_{triplets.npz,features.npz,scores.csv}``.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .cache import ResolvedModel, resolve_shipped, sha256_file
from .entries import get_entry
from .parity import input_dirs, load_golden, load_reference, max_abs_diff, probe_inputs, tf_signature

DEFAULT_TOLERANCE = 1e-6


@dataclass
class InputSet:
    """One set of inputs and the largest score differences on it."""

    name: str
    source: str
    n: int
    reconverted_vs_shipped: float
    shipped_vs_tensorflow: float
    #: against the scores recorded upstream with the inputs (golden expected_scores, reference score_tf)
    shipped_vs_recorded: float | None = None


@dataclass
class VerifyReport:
    name: str
    tarball: str
    shipped_path: str
    shipped_sha256: str
    reconverted_sha256: str
    tolerance: float
    sets: list[InputSet] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        """Byte-identical files: the same converter versions reproduce the shipped file exactly."""
        return self.shipped_sha256 == self.reconverted_sha256

    @property
    def ok(self) -> bool:
        return bool(self.sets) and all(s.reconverted_vs_shipped <= self.tolerance
                                       and s.shipped_vs_tensorflow <= self.tolerance for s in self.sets)

    def lines(self) -> list[str]:
        out = [f"{self.name}: shipped {self.shipped_path}",
               f"  shipped sha256     {self.shipped_sha256}",
               f"  reconverted sha256 {self.reconverted_sha256} "
               + ("(byte-identical)" if self.identical else "(bytes differ: other converter versions?)")]
        for s in self.sets:
            rec = "" if s.shipped_vs_recorded is None else f", vs recorded scores {s.shipped_vs_recorded:.3g}"
            out.append(f"  {s.name} ({s.n} inputs, {s.source}): max |diff| reconverted vs shipped "
                       f"{s.reconverted_vs_shipped:.3g}, shipped vs TensorFlow {s.shipped_vs_tensorflow:.3g}{rec}")
        verdict = "OK" if self.ok else "FAILED"
        out.append(f"{verdict}: tolerance {self.tolerance:g} on reconverted vs shipped and shipped vs TensorFlow")
        return out


def verify_shipped(name: str, tarball: str | os.PathLike, golden: str | os.PathLike | None = None,
                   reference: str | os.PathLike | None = None, tolerance: float | None = None) -> VerifyReport:
    """Compare the shipped ONNX of registry model ``name`` with a fresh conversion of ``tarball``."""
    from .convert import find_savedmodel, import_model, safe_extract  # (TensorFlow's converter, lazily)

    entry = get_entry(name)
    shipped = resolve_shipped(entry)
    tol = DEFAULT_TOLERANCE if tolerance is None else float(tolerance)
    golden_dir, ref_dir = input_dirs(golden, reference, "verify")
    features = shipped.feature_names
    trip, meta = probe_inputs(features)
    inputs = [("probe", "built-in seeded batch", trip, meta, None),
              ("golden", str(golden_dir), *load_golden(golden_dir, features)),
              ("reference alerts", str(ref_dir), *load_reference(ref_dir, features))]

    with tempfile.TemporaryDirectory(prefix="btsbot-verify-") as tmp_s:
        tmp = Path(tmp_s)
        reconverted: ResolvedModel = import_model(tarball, name=entry.name, home=tmp / "home",
                                                          replace_shipped=True, golden=golden_dir,
                                                          reference=ref_dir)
        safe_extract(Path(tarball), tmp / "extracted")
        tf, _loaded, fn, _, _ = tf_signature(find_savedmodel(tmp / "extracted"), entry.signature)
        ours, fresh = shipped.backend(), reconverted.backend()
        # (resolve_shipped checked the shipped file's sha256 against the entry)
        report = VerifyReport(entry.name, str(tarball), str(shipped.onnx_path), entry.shipped_sha256,
                              sha256_file(reconverted.onnx_path), tol)
        for set_name, source, t, m, recorded in inputs:
            s_ours, s_fresh = ours.run(t, m), fresh.run(t, m)
            s_tf = fn(**{shipped.triplet_input: tf.constant(t), shipped.metadata_input: tf.constant(m)})
            s_tf = s_tf[shipped.output_name].numpy().reshape(-1)
            report.sets.append(InputSet(
                set_name, source, len(t), max_abs_diff(s_fresh, s_ours), max_abs_diff(s_ours, s_tf),
                None if recorded is None else max_abs_diff(s_ours, recorded)))
    return report
