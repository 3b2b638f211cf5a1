"""The local model cache and :func:`resolve`: from a model name or path to an ONNX file plus its spec.

Cache layout: ``<home>/<name>/model.onnx`` and ``<home>/<name>/model_card.json``, where ``<home>`` is
:func:`model_home`. A run directory written by the training wrapper has the same two files, so it can be
passed to :func:`resolve` directly, as can a bare ``.onnx`` file.

Shipped models: a registry entry with a ``shipped`` section has its converted ONNX installed with the
package, in a directory of the same layout beside the entry (``btsbot_fast/_models/<dir>/``); its sha256
is in the entry and is checked on every load. A model of the same name imported into the cache is an
explicit choice and takes precedence; otherwise a registry name resolves to the shipped copy.

Model card (JSON) fields read here: ``name``, ``version``, ``variant`` (or ``preprocessing.variant``),
``feature_names`` (a subset of the variant's features, in the model's input order), ``inputs``
(``{"triplet": {"name": ...}, "metadata": {"name": ...}}``, default names ``triplet``/``metadata``),
``output`` (``{"name": ...}``), optionally ``onnx_sha256`` (checked against the file when present).

Screening model (``--precision fast``): a card's ``int8`` section names the int8 file derived from the
model by ``btsbot-fast models quantize`` (``file``, beside ``model.onnx``), its ``onnx_sha256`` and the
``margin`` around each decision threshold inside which the exact model re-scores (btsbot_fast/precision.py).
A shipped model's entry also records the int8 file's sha256 (``shipped.int8.onnx_sha256``); either is
checked when the file is opened (:meth:`Int8Model.checked_path`).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .entries import (
    DEFAULT_INPUTS,
    DEFAULT_OUTPUT,
    VARIANTS,
    ModelEntry,
    canonical_name,
    check_features,
    check_name,
    get_entry,
    list_entries,
)
from .errors import ModelCardError, ModelNotFoundError

ONNX_FILE = "model.onnx"
CARD_FILE = "model_card.json"
INT8_FILE = "model.int8.onnx"
HOME_ENV = "BTSBOT_FAST_HOME"


def model_home(home: str | os.PathLike | None = None) -> Path:
    """The model cache directory: ``home``, else ``$BTSBOT_FAST_HOME``, else the user cache dir."""
    if home is not None:
        return Path(home).expanduser()
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("btsbot-fast"))


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


@dataclass(frozen=True)
class Int8Model:
    """The int8 screening model derived from a model (the card's ``int8`` section)."""

    onnx_path: Path
    sha256: str
    #: re-score exactly when the int8 score is within this distance of a decision threshold
    margin: float
    card: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def checked_path(self) -> Path:
        """The file, after checking its sha256 (a changed or missing file is a :class:`ModelCardError`)."""
        if not self.onnx_path.is_file():
            raise ModelCardError(f"the int8 model {self.onnx_path} is missing; derive it again: "
                                 "btsbot-fast models quantize")
        actual = sha256_file(self.onnx_path)
        if actual != self.sha256:
            raise ModelCardError(f"{self.onnx_path} has sha256 {actual}, but its model card says {self.sha256}: "
                                 "the int8 file was changed; derive it again (btsbot-fast models quantize)")
        return self.onnx_path


def int8_from_card(card: Mapping[str, Any], model_dir: Path, where: str,
                   expected_sha256: str | None = None) -> Int8Model | None:
    """The card's ``int8`` section as an :class:`Int8Model` (None when the card has none).
    ``expected_sha256`` (a shipped entry's) must agree with the card's."""
    section = card.get("int8")
    if not section:
        return None
    try:
        path = model_dir / str(section.get("file") or INT8_FILE)
        sha = str(section["onnx_sha256"])
        margin = float(section["margin"])
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ModelCardError(f"{where}: the int8 section needs file, onnx_sha256 and margin ({exc})") from None
    if not 0.0 < margin < 1.0:
        raise ModelCardError(f"{where}: int8 margin {margin} is not within (0, 1)")
    if expected_sha256 is not None and expected_sha256 != sha:
        raise ModelCardError(f"{where}: the card's int8 file (sha256 {sha}) is not the one the registry entry "
                             f"ships ({expected_sha256}); reinstall btsbot-fast")
    return Int8Model(onnx_path=path.resolve(), sha256=sha, margin=margin, card=dict(section))


@dataclass(frozen=True)
class ResolvedModel:
    """A usable model: the ONNX file and everything needed to feed it."""

    name: str
    version: str
    onnx_path: Path
    variant: str
    feature_names: tuple[str, ...]
    triplet_input: str = "triplet"
    metadata_input: str = "metadata"
    output_name: str = "fc_out"
    card: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    #: where it came from: "cache" (imported), "shipped" (installed with the package) or "file" (a path)
    origin: str = field(default="file", compare=False)
    #: the int8 screening model derived from this one (``--precision fast``), None when there is none
    int8: Int8Model | None = field(default=None, compare=False)

    @property
    def input_names(self) -> dict[str, str]:
        return {"triplet": self.triplet_input, "metadata": self.metadata_input}

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    @property
    def feature_indices(self) -> tuple[int, ...]:
        """Column indices of this model's features in the variant's full feature matrix."""
        full = VARIANTS[self.variant]
        return tuple(full.index(n) for n in self.feature_names)

    def backend(self, **kwargs):
        """An :class:`~btsbot_fast.backends.onnx.OnnxBackend` for this model (imports onnxruntime); keyword
        arguments (``device=``, ``intra_op_threads=``...) go to the backend."""
        from ..backends.onnx import OnnxBackend

        return OnnxBackend(self.onnx_path, triplet_input=self.triplet_input, metadata_input=self.metadata_input,
                           output_name=self.output_name, n_features=self.n_features, **kwargs)


def spec_from_entry(entry: ModelEntry) -> dict[str, Any]:
    """A model-card-shaped spec built from a registry entry."""
    return {
        "name": entry.name, "version": entry.version, "variant": entry.variant,
        "feature_names": list(entry.feature_names), "inputs": json.loads(json.dumps(entry.inputs)),
        "output": dict(entry.output), "registry_entry": entry.name,
    }


def default_spec(name: str) -> dict[str, Any]:
    """The default spec for a bare ONNX file: variant btsbot-v1, all its features, standard I/O names."""
    variant = next(iter(VARIANTS))
    feats = list(VARIANTS[variant])
    inputs = json.loads(json.dumps(DEFAULT_INPUTS))
    inputs["metadata"]["shape"] = [None, len(feats)]
    return {"name": name, "version": "unknown", "variant": variant, "feature_names": feats,
            "inputs": inputs, "output": dict(DEFAULT_OUTPUT)}


def load_spec(spec: Any) -> dict[str, Any]:
    """``spec`` as a card dict: a dict, a registry entry, an entry name, or a path to a card JSON file."""
    if isinstance(spec, ModelEntry):
        return spec_from_entry(spec)
    if isinstance(spec, Mapping):
        return dict(spec)
    if isinstance(spec, (str, os.PathLike)):
        p = Path(spec)
        if p.is_dir() and (p / CARD_FILE).is_file():
            p = p / CARD_FILE
        if p.is_file():
            return read_card(p)
        if isinstance(spec, str) and canonical_name(spec):
            return spec_from_entry(get_entry(spec))
        raise ModelNotFoundError(f"spec {spec!r} is neither a model card file nor a registry entry name")
    raise TypeError(f"spec must be a dict, a card path or an entry name, not {type(spec).__name__}")


def read_card(path: Path) -> dict[str, Any]:
    try:
        card = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelCardError(f"model card {path}: unreadable ({exc})") from None
    if not isinstance(card, dict):
        raise ModelCardError(f"model card {path}: not a JSON object")
    return card


def _io_name(card: Mapping[str, Any], role: str, default: str) -> str:
    inputs = card.get("inputs") or {}
    if isinstance(inputs, Mapping):
        v = inputs.get(role)
        if isinstance(v, Mapping) and v.get("name"):
            return str(v["name"])
        if isinstance(v, str):
            return v
    return default


def _from_card(card: Mapping[str, Any], onnx_path: Path, where: str, default_name: str,
               check_sha: bool = True, origin: str = "file", int8_sha256: str | None = None) -> ResolvedModel:
    variant = card.get("variant") or (card.get("preprocessing") or {}).get("variant")
    if "feature_names" not in card:
        raise ModelCardError(f"{where}: the model card has no feature_names")
    features = check_features(variant, card.get("feature_names"), where)
    if check_sha and card.get("onnx_sha256"):
        actual = sha256_file(onnx_path)
        if actual != card["onnx_sha256"]:
            raise ModelCardError(f"{where}: {onnx_path} has sha256 {actual}, but its model card says "
                                 f"{card['onnx_sha256']}; the file was changed after import - re-import it")
    out = card.get("output") or {}
    out_name = out.get("name") if isinstance(out, Mapping) else out
    return ResolvedModel(
        name=str(card.get("name") or default_name), version=str(card.get("version") or "unknown"),
        onnx_path=onnx_path.resolve(), variant=variant, feature_names=features,
        triplet_input=_io_name(card, "triplet", "triplet"), metadata_input=_io_name(card, "metadata", "metadata"),
        output_name=str(out_name or "fc_out"), card=dict(card), origin=origin,
        int8=int8_from_card(card, onnx_path.parent, where, int8_sha256),
    )


def not_found_message(name: str, home: Path) -> str:
    """Why ``name`` is no model here, and what to type instead: a registry entry to pull, a close name, or
    a model of one's own to import (the cache folder is named: ``$BTSBOT_FAST_HOME`` moves it)."""
    import difflib

    try:
        entry = get_entry(name)
    except ModelNotFoundError:
        entry = None
    where = f"(the model cache is {home}; ${HOME_ENV} moves it; `btsbot-fast models list` shows what it holds)"
    if entry is not None:
        lines = [f"model {name!r} is not in the model cache yet. Get it with one of:",
                 f"  btsbot-fast models pull {entry.name}    # downloads and imports it",
                 f"  btsbot-fast models import /path/to/{entry.name}.tar"
                 + (f"    # offline: the file from {entry.url} (sha256 {entry.sha256})" if entry.url else "")]
        return "\n".join(lines + [where])
    names = [e.name for e in list_entries()]
    close = difflib.get_close_matches(name, names, n=1)
    lines = [f"no model named {name!r}: it is neither a registry entry ({', '.join(names)}) nor in the model cache"
             + (f"; did you mean {close[0]}?" if close else "."),
             ("Pass a registry name, a path to a .onnx file or a training run directory, or import a model of "
              "your own first:"),
             f"  btsbot-fast models import /path/to/saved_model_or.tar --name {name}"]
    return "\n".join(lines + [where])


def _looks_like_path(s: str) -> bool:
    return os.sep in s or (os.altsep is not None and os.altsep in s) or s.endswith(".onnx") or s.startswith(("~", "."))


def resolve(model: Any, home: str | os.PathLike | None = None, spec: Any = None) -> ResolvedModel:
    """Resolve a registry name, a ``.onnx`` file or a run/cache directory to a :class:`ResolvedModel`.

    * registry name (``btsbot-v1.0.1``, alias ``btsbot``) or a name imported under ``--name``: looked up in
      the cache, then (registry entries with a ``shipped`` section) the copy installed with the package;
      when neither exists raises :class:`ModelNotFoundError` saying how to import or pull it;
    * ``.onnx`` file: spec from ``spec=`` (card dict/path or entry name), else ``model_card.json`` beside it,
      else the default spec (variant btsbot-v1, all 25 features, inputs ``triplet``/``metadata``);
    * directory holding ``model.onnx`` (+ ``model_card.json``): e.g. a training run directory.
    """
    if isinstance(model, ResolvedModel):
        return model
    is_path = isinstance(model, os.PathLike)
    s = os.fspath(model) if is_path else str(model)
    if not is_path and not _looks_like_path(s):
        canon = canonical_name(s)
        home_dir = model_home(home)
        cache_name = canon or s
        try:
            check_name(cache_name)
        except ValueError as exc:
            raise ModelNotFoundError(str(exc)) from None
        d = home_dir / cache_name
        if (d / ONNX_FILE).is_file() and (d / CARD_FILE).is_file():
            return _resolve_dir(d, spec, origin="cache")
        if canon is not None and get_entry(canon).shipped:
            return resolve_shipped(canon)
        if canon is not None or not Path(s).exists():
            raise ModelNotFoundError(not_found_message(cache_name, home_dir))
    p = Path(s).expanduser()
    if p.is_dir():
        return _resolve_dir(p, spec)
    if p.is_file():
        return _resolve_onnx(p, spec)
    raise ModelNotFoundError(f"no such model file or directory: {s}")


def resolve_shipped(name: str | ModelEntry) -> ResolvedModel:
    """The copy of registry model ``name`` installed with the package, its sha256 checked against the entry."""
    entry = name if isinstance(name, ModelEntry) else get_entry(name)
    d = entry.shipped_dir
    if d is None:
        raise ModelNotFoundError(f"registry model {entry.name} is not shipped with the package")
    onnx_path = d / ONNX_FILE
    if not onnx_path.is_file():
        raise ModelCardError(f"the package's copy of {entry.name} is missing ({onnx_path}); reinstall btsbot-fast")
    actual = sha256_file(onnx_path)
    if actual != entry.shipped_sha256:
        raise ModelCardError(f"{onnx_path} has sha256 {actual}, but registry entry {entry.name} says "
                             f"{entry.shipped_sha256}: the shipped model file was changed; reinstall btsbot-fast")
    card_path = d / CARD_FILE
    card = read_card(card_path) if card_path.is_file() else spec_from_entry(entry)
    if card.get("onnx_sha256") not in (None, actual):
        raise ModelCardError(f"{card_path} describes a different file (onnx_sha256 {card['onnx_sha256']}) than "
                             f"registry entry {entry.name} ships ({actual}); reinstall btsbot-fast")
    return _from_card(card, onnx_path, f"shipped model {entry.name}", entry.name, check_sha=False, origin="shipped",
                      int8_sha256=(entry.shipped.get("int8") or {}).get("onnx_sha256"))


def _borrowed(card: dict[str, Any]) -> dict[str, Any]:
    """A spec borrowed for another file: its int8 screening model belongs to the model it describes."""
    return {k: v for k, v in card.items() if k != "int8"}


def _resolve_dir(d: Path, spec: Any, origin: str = "file") -> ResolvedModel:
    onnx_path = d / ONNX_FILE
    if not onnx_path.is_file():
        onnx_files = sorted(d.glob("*.onnx"))
        if len(onnx_files) != 1:
            raise ModelNotFoundError(f"{d} holds no {ONNX_FILE}" + (" (and several .onnx files)" if onnx_files else ""))
        onnx_path = onnx_files[0]
    if spec is not None:
        return _from_card(_borrowed(load_spec(spec)), onnx_path, f"spec for {onnx_path}", d.name, check_sha=False)
    card_path = d / CARD_FILE
    if card_path.is_file():
        return _from_card(read_card(card_path), onnx_path, f"model card {card_path}", d.name, origin=origin)
    return _from_card(default_spec(d.name), onnx_path, f"default spec for {onnx_path}", d.name, origin=origin)


def _resolve_onnx(p: Path, spec: Any) -> ResolvedModel:
    if p.suffix.lower() != ".onnx":
        raise ModelNotFoundError(f"{p} is not an .onnx file; to use a TensorFlow model, import it first: "
                                 f"btsbot-fast models import {p}")
    if spec is not None:
        # a spec borrowed from a card or an entry describes the inputs; it does not make this file that model
        card = load_spec(spec)
        card = {**card, "name": p.stem, "version": "unknown", "spec_from": card.get("name")}
        card.pop("onnx_sha256", None)
        card = _borrowed(card)
        return _from_card(card, p, f"spec for {p}", p.stem, check_sha=False)
    card_path = p.parent / CARD_FILE
    if card_path.is_file():
        return _from_card(read_card(card_path), p, f"model card {card_path}", p.stem)
    return _from_card(default_spec(p.stem), p, f"default spec for {p}", p.stem)


def cached_models(home: str | os.PathLike | None = None) -> dict[str, Path]:
    """Names of the models present in the cache -> their directory."""
    h = model_home(home)
    out: dict[str, Path] = {}
    if h.is_dir():
        for d in sorted(h.iterdir()):
            if d.is_dir() and not d.name.startswith(".") and (d / ONNX_FILE).is_file() and (d / CARD_FILE).is_file():
                out[d.name] = d
    return out
