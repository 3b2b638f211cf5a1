"""Registry entries: the JSON files in the repository's ``models/`` (installed as ``btsbot_fast/_models``).

Entries are data, not code. Each one names a model, where its weights come from (URL, sha256, format),
its inputs and output, its preprocessing variant and the features it reads. Loading an entry checks its
feature names against the variant defined in :mod:`btsbot_fast.prep.variant`, so data and code cannot
drift apart silently.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from ..prep import variant as _variant
from .errors import ModelCardError, ModelNotFoundError

#: preprocessing variants this code implements -> the features each one computes, in order
VARIANTS: dict[str, tuple[str, ...]] = {_variant.VARIANT: tuple(_variant.FEATURE_NAMES)}

#: model names double as directory names in the cache
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")

DEFAULT_INPUTS: dict[str, dict[str, Any]] = {
    "triplet": {"name": "triplet", "dtype": "float32", "shape": [None, 63, 63, 3], "layout": "NHWC",
                "channels": ["science", "template", "difference"]},
    "metadata": {"name": "metadata", "dtype": "float32", "shape": [None, None]},
}
DEFAULT_OUTPUT: dict[str, Any] = {"name": "fc_out", "dtype": "float32", "shape": [None, 1]}


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name) or name in {".", ".."}:
        raise ValueError(f"invalid model name {name!r}: use letters, digits and . _ + - (no path separators)")
    return name


def check_features(variant: str | None, feature_names, where: str) -> tuple[str, ...]:
    """Validate a (variant, feature_names) pair; returns the feature names as a tuple."""
    if variant not in VARIANTS:
        raise ModelCardError(f"{where}: unknown preprocessing variant {variant!r} (known: {', '.join(VARIANTS)})")
    if not feature_names or isinstance(feature_names, str):
        raise ModelCardError(f"{where}: feature_names must be a non-empty list of names")
    names = tuple(str(n) for n in feature_names)
    known = VARIANTS[variant]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ModelCardError(f"{where}: feature(s) {unknown} are not computed by variant {variant!r} "
                             f"(it has: {' '.join(known)})")
    if len(set(names)) != len(names):
        raise ModelCardError(f"{where}: duplicate feature names in {list(names)}")
    return names


def _version_key(version: str):
    parts = []
    for p in re.split(r"[.+-]", version):
        parts.append((0, int(p), "") if p.isdigit() else (1, 0, p))
    return tuple(parts)


@dataclass(frozen=True)
class ModelEntry:
    """One registry entry (``models/<name>.json``); ``raw`` is the whole JSON document."""

    name: str
    version: str
    family: str
    url: str | None
    mirrors: tuple[str, ...]
    sha256: str | None
    format: str
    signature: str
    variant: str
    feature_names: tuple[str, ...]
    inputs: Mapping[str, Any]
    output: Mapping[str, Any]
    source_file: Path | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def urls(self) -> tuple[str, ...]:
        return tuple(u for u in ((self.url,) + self.mirrors) if u)

    @property
    def savedmodel_files(self) -> dict[str, str]:
        """``relative path -> sha256`` of the files of the extracted SavedModel (may be empty)."""
        return dict((self.raw.get("savedmodel") or {}).get("files") or {})

    @property
    def savedmodel_root(self) -> str | None:
        return (self.raw.get("savedmodel") or {}).get("root")

    @property
    def parity_tolerance(self) -> float:
        return float((self.raw.get("conversion") or {}).get("parity_tolerance", 1e-5))

    @property
    def opset(self) -> int:
        return int((self.raw.get("conversion") or {}).get("opset", 17))

    @property
    def licence(self) -> Mapping[str, Any]:
        return self.raw.get("licence") or {}

    @property
    def shipped(self) -> Mapping[str, Any]:
        """The ``shipped`` section: the converted ONNX copy installed with the package (may be empty)."""
        return self.raw.get("shipped") or {}

    @property
    def shipped_dir(self) -> Path | None:
        """The directory of the shipped copy (``model.onnx`` + ``model_card.json``), beside this entry."""
        d = self.shipped.get("dir")
        return None if not d or self.source_file is None else self.source_file.parent / d

    @property
    def shipped_sha256(self) -> str | None:
        return self.shipped.get("onnx_sha256")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source_file: Path | None = None) -> "ModelEntry":
        where = f"registry entry {source_file or d.get('name')!s}"
        try:
            name = check_name(d["name"])
            version = str(d["version"])
        except (KeyError, ValueError) as exc:
            raise ModelCardError(f"{where}: {exc}") from None
        variant = (d.get("preprocessing") or {}).get("variant")
        features = check_features(variant, d.get("feature_names"), where)
        inputs = {k: dict(v) for k, v in (d.get("inputs") or DEFAULT_INPUTS).items()}
        for role in ("triplet", "metadata"):
            if role not in inputs or "name" not in inputs[role]:
                raise ModelCardError(f"{where}: inputs.{role}.name is required")
        meta_shape = inputs["metadata"].get("shape")
        if meta_shape and len(meta_shape) == 2 and meta_shape[1] not in (None, len(features)):
            raise ModelCardError(f"{where}: metadata shape {meta_shape} does not match {len(features)} features")
        output = dict(d.get("output") or DEFAULT_OUTPUT)
        sha = d.get("sha256")
        if sha is not None and not re.fullmatch(r"[0-9a-f]{64}", sha):
            raise ModelCardError(f"{where}: sha256 must be 64 lower-case hex digits")
        shipped = d.get("shipped")
        if shipped is not None:
            if not isinstance(shipped, Mapping) or not _NAME_RE.match(str(shipped.get("dir", ""))):
                raise ModelCardError(f"{where}: shipped.dir must name a directory beside the entry")
            if not re.fullmatch(r"[0-9a-f]{64}", str(shipped.get("onnx_sha256", ""))):
                raise ModelCardError(f"{where}: shipped.onnx_sha256 must be 64 lower-case hex digits")
            int8 = shipped.get("int8")
            if int8 is not None and not (isinstance(int8, Mapping)
                                         and re.fullmatch(r"[0-9a-f]{64}", str(int8.get("onnx_sha256", "")))):
                raise ModelCardError(f"{where}: shipped.int8.onnx_sha256 must be 64 lower-case hex digits")
        return cls(
            name=name, version=version, family=str(d.get("family") or name), url=d.get("url"),
            mirrors=tuple(d.get("mirrors") or ()), sha256=sha, format=str(d.get("format", "tf-savedmodel-tar")),
            signature=str(d.get("signature") or (d.get("savedmodel") or {}).get("signature") or "serving_default"),
            variant=variant, feature_names=features, inputs=inputs, output=output,
            source_file=source_file, raw=dict(d),
        )


def entry_dirs() -> list[Path]:
    """Where entries are looked for: the installed package data, else the source tree's ``models/``."""
    dirs: list[Path] = []
    try:
        pkg = resources.files("btsbot_fast") / "_models"
        if pkg.is_dir():
            dirs.append(Path(str(pkg)))
    except (ModuleNotFoundError, TypeError, NotADirectoryError):  # pragma: no cover - exotic loaders
        pass
    if not dirs:
        src = Path(__file__).resolve().parents[2] / "models"
        if src.is_dir():
            dirs.append(src)
    return dirs


@functools.lru_cache(maxsize=None)
def _load_all(dirs: tuple[Path, ...]) -> tuple[ModelEntry, ...]:
    entries: dict[str, ModelEntry] = {}
    for d in dirs:
        for f in sorted(d.glob("*.json")):
            try:
                doc = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise ModelCardError(f"registry entry {f}: unreadable ({exc})") from None
            e = ModelEntry.from_dict(doc, source_file=f)
            entries.setdefault(e.name, e)
    return tuple(sorted(entries.values(), key=lambda e: (e.family, _version_key(e.version))))


def list_entries() -> list[ModelEntry]:
    """All registry entries, ordered by family then version."""
    return list(_load_all(tuple(entry_dirs())))


def canonical_name(name: str) -> str | None:
    """The entry name for ``name`` (an entry name, or a family alias meaning its latest version)."""
    entries = list_entries()
    for e in entries:
        if e.name == name:
            return e.name
    family = [e for e in entries if e.family == name]
    return family[-1].name if family else None


def get_entry(name: str) -> ModelEntry:
    """The registry entry called ``name``; a family name (``btsbot``) means its latest version."""
    canon = canonical_name(name)
    if canon is None:
        known = ", ".join(e.name for e in list_entries()) or "none"
        raise ModelNotFoundError(f"no registry entry named {name!r} (known: {known})")
    return next(e for e in list_entries() if e.name == canon)


def find_entry_by_sha256(sha256: str) -> ModelEntry | None:
    return next((e for e in list_entries() if e.sha256 and e.sha256 == sha256), None)
