"""``import_model``: TensorFlow SavedModel (tarball or directory) -> verified ONNX in the model cache.

Steps: identify the file (sha256 against the registry), extract it safely, convert it with tf2onnx's
SavedModel route (``python -m tf2onnx.convert`` in a child process), check ONNX Runtime against TensorFlow
on built-in probe inputs, and only then store ``model.onnx`` + ``model_card.json`` atomically.
TensorFlow is imported here only, lazily; scoring never needs it.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from importlib import metadata as _md
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

import numpy as np

from .cache import (
    CARD_FILE,
    ONNX_FILE,
    ResolvedModel,
    _io_name,
    default_spec,
    load_spec,
    model_home,
    resolve,
    resolve_shipped,
    sha256_file,
    spec_from_entry,
)
from .entries import (
    DEFAULT_INPUTS,
    DEFAULT_OUTPUT,
    ModelEntry,
    canonical_name,
    check_features,
    check_name,
    find_entry_by_sha256,
    get_entry,
    list_entries,
)
from .errors import ModelImportError
from .parity import PROBE_DESCRIPTION, PROBE_SEED, input_dirs, max_abs_diff, probe_inputs, recorded_parity, tf_signature

MIN_OPSET, MAX_OPSET = 17, 18
DEFAULT_TOLERANCE = 1e-5
#: how far a replacement of a shipped model may score the golden and reference inputs from the production
#: scores recorded with them (the shipped file: 2.1e-7)
RECORDED_TOLERANCE = 1e-6
#: refuse archives that unpack to more than this (the official one is 3 MB)
MAX_UNPACKED_BYTES = 4 << 30
MAX_MEMBERS = 10_000

# --------------------------------------------------------------------------------------------- archives
def safe_extract(archive: Path, dest: Path) -> None:
    """Extract a (possibly compressed, sniffed by content) tar into ``dest``, refusing anything unsafe."""
    try:
        tf = tarfile.open(archive, mode="r:*")
    except (tarfile.TarError, OSError) as exc:
        raise ModelImportError(f"{archive} is not a (gzip/bzip2/xz-compressed or plain) tar archive: {exc}") from None
    dest = dest.resolve()
    dest.mkdir(parents=True, exist_ok=True)
    total = 0
    with tf:
        for count, m in enumerate(tf, 1):
            if count > MAX_MEMBERS:
                raise ModelImportError(f"{archive}: more than {MAX_MEMBERS} members; refusing")
            raw = m.name.replace("\\", "/")
            p = PurePosixPath(raw)
            if p.is_absolute() or ".." in p.parts or (p.parts and p.parts[0].endswith(":")):
                raise ModelImportError(f"{archive}: member {m.name!r} points outside the archive; refusing")
            parts = [x for x in p.parts if x not in ("", ".")]
            if not parts:
                continue
            target = dest.joinpath(*parts)
            if not str(target.resolve()).startswith(str(dest) + os.sep):
                raise ModelImportError(f"{archive}: member {m.name!r} escapes the extraction directory; refusing")
            if m.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif m.isfile():
                total += m.size
                if total > MAX_UNPACKED_BYTES:
                    raise ModelImportError(f"{archive}: unpacks to more than {MAX_UNPACKED_BYTES} bytes; refusing")
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tf.extractfile(m)
                with src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
            else:
                kind = "link" if (m.issym() or m.islnk()) else "special file"
                raise ModelImportError(f"{archive}: member {m.name!r} is a {kind}; refusing")


def find_savedmodel(root: Path) -> Path:
    found = sorted({p.parent for p in root.rglob("saved_model.pb")})
    if len(found) != 1:
        what = "no saved_model.pb" if not found else f"{len(found)} SavedModels ({', '.join(map(str, found))})"
        raise ModelImportError(f"{root}: expected one TensorFlow SavedModel directory, found {what}")
    return found[0]


def hash_tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.startswith(".")}


def _strip_archive_suffix(name: str) -> str:
    for suf in (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".tar"):
        if name.lower().endswith(suf):
            return name[: -len(suf)]
    return name


# --------------------------------------------------------------------------------------------- helpers
def _version(dist: str) -> str | None:
    try:
        return _md.version(dist)
    except _md.PackageNotFoundError:
        return None


def _btsbot_fast_version() -> str:
    from .._version import __version__

    return __version__


def _tf_version() -> str | None:
    return _version("tensorflow") or _version("tensorflow-cpu") or _version("tensorflow-macos")


def _run_tf2onnx(saved_model: Path, signature: str, opset: int, out: Path) -> float:
    # run beside the SavedModel and name it relatively: tf2onnx writes "converted from <path>" into the
    # graph's doc_string, and a temporary extraction path there would make every conversion differ by a
    # few bytes (with a relative name, the same tools give a byte-identical file)
    cmd = [sys.executable, "-m", "tf2onnx.convert", "--saved-model", saved_model.name,
           "--signature_def", signature, "--opset", str(opset), "--output", str(out.resolve())]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="-1", PYTHONWARNINGS="ignore")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800,
                              cwd=saved_model.resolve().parent)
    except subprocess.TimeoutExpired:
        raise ModelImportError("tf2onnx did not finish within 30 minutes") from None
    if proc.returncode != 0 or not out.is_file():
        tail = "\n".join((proc.stderr or proc.stdout or "").strip().splitlines()[-25:])
        raise ModelImportError(f"tf2onnx failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")
    return time.perf_counter() - t0


def _store_atomically(home_dir: Path, name: str, onnx_src: Path, card: Mapping[str, Any]) -> Path:
    home_dir.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=home_dir))
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(stage, 0o777 & ~umask)  # mkdtemp makes it 0700; the cache may be shared
        shutil.copyfile(onnx_src, stage / ONNX_FILE)
        (stage / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        for f in (ONNX_FILE, CARD_FILE):
            with open(stage / f, "rb") as fh:
                os.fsync(fh.fileno())
        final = home_dir / name
        if final.exists():
            old = home_dir / f".{name}.old-{uuid.uuid4().hex[:8]}"
            os.rename(final, old)
            os.rename(stage, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(stage, final)
        return final
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


# --------------------------------------------------------------------------------------------- import
def import_model(path: str | os.PathLike, name: str | None = None, home: str | os.PathLike | None = None,
                 opset: int | None = None, spec: Any = None, tolerance: float | None = None, *,
                 replace_shipped: bool = False, golden: str | os.PathLike | None = None,
                 reference: str | os.PathLike | None = None) -> ResolvedModel:
    """Import a TF SavedModel (tarball, any compression, or extracted directory) into the model cache.

    A file whose sha256 matches a registry entry is that entry; ``name=`` an entry whose sha256 differs is
    refused. A model outside the registry takes ``name`` (default: the file name) and ``spec`` (a card
    dict/path or entry name; default: variant btsbot-v1 with all its features). The ONNX conversion must
    match TensorFlow within ``tolerance`` (default: the entry's, else 1e-5) or nothing is stored.

    A registry model the package ships is kept: after its identity is checked, the shipped copy is
    returned and nothing is converted or stored (a conversion made on another CPU or with other converter
    versions gives other bytes, and an import would take precedence). With ``replace_shipped`` it is
    converted and stored only if its scores on the golden and reference inputs (``golden``/``reference``
    directories, by default found as ``models verify`` finds them) stay within
    :data:`RECORDED_TOLERANCE` of the production scores recorded with them.
    """
    src = Path(path).expanduser()
    if not src.exists():
        raise ModelImportError(f"no such file or directory: {src}")
    home_dir = model_home(home)
    t_start = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="btsbot-import-") as tmp_s:
        tmp = Path(tmp_s)
        # 1. identify
        if src.is_dir():
            saved_model = find_savedmodel(src)
            files = hash_tree(saved_model)
            tar_sha = None
            matched = next((e for e in list_entries() if e.savedmodel_files and e.savedmodel_files == files), None)
            fmt = "tf-savedmodel-dir"
        else:
            tar_sha = sha256_file(src)
            matched = find_entry_by_sha256(tar_sha)
            fmt = "tf-savedmodel-tar"
        entry: ModelEntry | None = None
        if name is not None:
            try:
                check_name(name)
            except ValueError as exc:
                raise ModelImportError(str(exc)) from None
            canon = canonical_name(name)
            if canon is not None:
                entry = get_entry(canon)
                if tar_sha is not None and entry.sha256 and tar_sha != entry.sha256:
                    raise ModelImportError(
                        f"{src} has sha256 {tar_sha}, but registry entry {entry.name} expects {entry.sha256}: "
                        f"refusing to import it as {entry.name} (the file is corrupt, tampered with, or a different "
                        f"model; import a different model under another --name)")
                if tar_sha is None and entry.savedmodel_files and files != entry.savedmodel_files:
                    raise ModelImportError(
                        f"the SavedModel files in {src} do not match registry entry {entry.name} (sha256 per file "
                        f"differ); refusing to import it as {entry.name}")
                name = entry.name
            else:
                entry = matched  # the registry's model under another name keeps the registry's spec
        else:
            entry = matched
            if entry is not None:
                name = entry.name
            else:
                name = _strip_archive_suffix(src.name if src.is_file() else src.resolve().name)
                try:
                    check_name(name)
                except ValueError:
                    raise ModelImportError(f"cannot derive a model name from {src}; pass --name") from None
                taken = canonical_name(name)
                if taken is not None:
                    e = get_entry(taken)
                    raise ModelImportError(
                        f"{src} is named like registry model {e.name}, but its "
                        + (f"sha256 {tar_sha} differs from the registry's {e.sha256}" if tar_sha
                           else "SavedModel files differ from the registry's")
                        + f": refusing to import it as {e.name} (corrupt or tampered with?); "
                          "to import a different model, pass another --name")
        if entry is not None and spec is not None:
            raise ModelImportError(f"{src} is registry model {entry.name}; "
                                   "spec= is only for models outside the registry")
        if entry is not None and entry.shipped and not replace_shipped:
            return resolve_shipped(entry)
        recorded_dirs = None
        if entry is not None and entry.shipped:  # before the slow conversion: the gate's inputs must exist
            recorded_dirs = input_dirs(golden, reference, f"replacing the shipped {entry.name}")

        opset = int(opset if opset is not None else (entry.opset if entry else MIN_OPSET))
        if not MIN_OPSET <= opset <= MAX_OPSET:
            raise ModelImportError(f"opset must be between {MIN_OPSET} and {MAX_OPSET} (tf2onnx 1.17's highest), "
                                   f"got {opset}")
        tol = float(tolerance if tolerance is not None else (entry.parity_tolerance if entry else DEFAULT_TOLERANCE))

        # 2. extract
        if src.is_file():
            safe_extract(src, tmp / "extracted")
            saved_model = find_savedmodel(tmp / "extracted")
            files = hash_tree(saved_model)
            if entry is not None and entry.savedmodel_files and files != entry.savedmodel_files:
                raise ModelImportError(f"{src}: extracted files do not match registry entry {entry.name}")

        # 3. spec
        signature = entry.signature if entry else "serving_default"
        tf, _loaded, fn, tf_inputs, tf_outputs = tf_signature(saved_model, signature)
        if entry is not None:
            card_spec = spec_from_entry(entry)
        elif spec is not None:
            card_spec = load_spec(spec)
        else:
            card_spec = default_spec(name)
            card_spec["output"]["name"] = tf_outputs[0] if len(tf_outputs) == 1 else None
        card_spec["name"] = name
        variant = card_spec.get("variant") or (card_spec.get("preprocessing") or {}).get("variant")
        try:
            features = check_features(variant, card_spec.get("feature_names"), f"spec of {name}")
        except ValueError as exc:
            raise ModelImportError(str(exc)) from None
        t_name = _io_name(card_spec, "triplet", "triplet")
        m_name = _io_name(card_spec, "metadata", "metadata")
        o_name = (card_spec.get("output") or {}).get("name") or (tf_outputs[0] if len(tf_outputs) == 1 else None)
        card_spec["inputs"] = {**DEFAULT_INPUTS, **(card_spec.get("inputs") or {})}
        card_spec["inputs"]["metadata"] = {**card_spec["inputs"]["metadata"], "shape": [None, len(features)]}
        card_spec["output"] = {**DEFAULT_OUTPUT, **(card_spec.get("output") or {}), "name": o_name}
        for role, nm in (("triplet", t_name), ("metadata", m_name)):
            if nm not in tf_inputs:
                raise ModelImportError(f"SavedModel signature {signature!r} has no input {nm!r} ({role}); "
                                       f"it has {sorted(tf_inputs)}")
        if tf_inputs[m_name][0][-1] not in (None, len(features)):
            raise ModelImportError(f"the model's {m_name!r} input is {tf_inputs[m_name][0]}, but the spec lists "
                                   f"{len(features)} features; pass spec= with the right feature_names")
        if tuple(tf_inputs[t_name][0][1:]) != (63, 63, 3):
            raise ModelImportError(f"the model's {t_name!r} input is {tf_inputs[t_name][0]}, expected (N, 63, 63, 3)")
        if o_name is None or o_name not in tf_outputs:
            raise ModelImportError(f"SavedModel signature {signature!r} outputs {tf_outputs}; expected {o_name!r}")

        # 4. convert
        onnx_tmp = tmp / ONNX_FILE
        convert_s = _run_tf2onnx(saved_model, signature, opset, onnx_tmp)

        # 5. check ONNX Runtime against TensorFlow
        from ..backends.onnx import OnnxBackend

        try:
            backend = OnnxBackend(onnx_tmp, triplet_input=t_name, metadata_input=m_name, output_name=o_name)
        except Exception as exc:  # noqa: BLE001
            raise ModelImportError(f"ONNX Runtime cannot load the converted model: {exc}") from None
        if (backend.triplet_input, backend.metadata_input, backend.output_name) != (t_name, m_name, o_name):
            raise ModelImportError(
                f"the converted model's inputs/output are {backend.triplet_input!r}/{backend.metadata_input!r} -> "
                f"{backend.output_name!r}, expected {t_name!r}/{m_name!r} -> {o_name!r}")
        dyn = [i.name for i in backend.session.get_inputs() if isinstance(i.shape[0], int)]
        if dyn:
            raise ModelImportError(f"the converted model has a fixed batch size on {dyn}; expected a dynamic batch")
        trip, meta = probe_inputs(features)
        ref = fn(**{t_name: tf.constant(trip), m_name: tf.constant(meta)})[o_name].numpy().reshape(-1)
        got = backend.run(trip, meta)
        one = np.concatenate([backend.run(trip[i:i + 1], meta[i:i + 1]) for i in range(len(trip))])
        if not (np.all(np.isfinite(ref)) and np.all(np.isfinite(got)) and np.all(np.isfinite(one))):
            raise ModelImportError("non-finite scores on the parity probe (TensorFlow or ONNX Runtime)")
        max_diff = max(max_abs_diff(got, ref), max_abs_diff(one, ref))
        if not max_diff <= tol:
            raise ModelImportError(
                f"ONNX Runtime disagrees with TensorFlow on the parity probe: max |score difference| {max_diff:.3g} "
                f"> tolerance {tol:g}; nothing was stored")
        recorded = None
        if recorded_dirs is not None:
            recorded = recorded_parity(backend, features, *recorded_dirs)
            if not max(recorded.values()) <= RECORDED_TOLERANCE:
                raise ModelImportError(
                    f"this conversion of {name} scores the reference inputs up to {max(recorded.values()):.3g} away "
                    f"from the recorded production scores (allowed {RECORDED_TOLERANCE:g}; "
                    + ", ".join(f"{k} {v:.3g}" for k, v in recorded.items())
                    + "): refusing to replace the shipped model; nothing was stored")

        # 6. store
        card: dict[str, Any] = {
            "card_schema": 1,
            "name": name,
            "version": card_spec.get("version", "unknown"),
            "variant": variant,
            "feature_names": list(features),
            "inputs": card_spec["inputs"],
            "output": card_spec["output"],
            "registry_entry": entry.name if entry else None,
            "onnx_file": ONNX_FILE,
            "onnx_sha256": sha256_file(onnx_tmp),
            "onnx_size": onnx_tmp.stat().st_size,
            "source": {
                "path": str(src.resolve()),
                "url": entry.url if entry else None,
                "format": fmt,
                "sha256": tar_sha,
                "signature": signature,
                "savedmodel_files_sha256": files,
            },
            "conversion": {
                "converter": "tf2onnx",
                "route": "python -m tf2onnx.convert --saved-model DIR --signature_def "
                         f"{signature} --opset {opset}",
                "opset": opset,
                "seconds": round(convert_s, 2),
                "versions": {k: _version(k) for k in ("tf2onnx", "onnx", "onnxruntime", "numpy")}
                | {"tensorflow": _tf_version(), "btsbot-fast": _btsbot_fast_version()},
            },
            "parity": {
                "max_abs_diff": max_diff,
                "tolerance": tol,
                "n_inputs": int(len(trip)),
                "seed": PROBE_SEED,
                "inputs": PROBE_DESCRIPTION,
                "reference": f"TensorFlow {_tf_version()} tf.saved_model.load(...).signatures[{signature!r}]",
                "candidate": f"onnxruntime {_version('onnxruntime')} {', '.join(backend.providers)}",
                "reference_score_range": [float(ref.min()), float(ref.max())],
            },
            "recorded_parity": None if recorded is None else {
                "max_abs_diff": recorded, "tolerance": RECORDED_TOLERANCE,
                "inputs": [str(d) for d in recorded_dirs],
                "reference": "production scores recorded with the inputs (expected_scores, score_tf)"},
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "import_seconds": None,
            "licence": dict(entry.licence) if entry else card_spec.get("licence"),
            "citation": (entry.raw.get("citation") if entry else card_spec.get("citation")),
        }
        card["import_seconds"] = round(time.perf_counter() - t_start, 2)
        final = _store_atomically(home_dir, name, onnx_tmp, card)
    return resolve(final)
