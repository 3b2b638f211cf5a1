"""``pull``: download a registry entry's weights, verify the sha256, import them."""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from .cache import ResolvedModel, model_home
from .entries import get_entry
from .errors import ModelImportError

USER_AGENT = "btsbot-fast model pull"


def _download(url: str, dest: Path, timeout: float) -> str:
    h = hashlib.sha256()
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(req, timeout=timeout) as resp, open(dest, "wb") as out:
        while True:
            b = resp.read(1 << 20)
            if not b:
                break
            h.update(b)
            out.write(b)
    return h.hexdigest()


def pull(name: str, home: str | os.PathLike | None = None, url: str | None = None,
         timeout: float = 60.0, **import_kwargs) -> ResolvedModel:
    """Download registry model ``name`` (from ``url`` if given, else its URL then mirrors) and import it."""
    from . import convert  # late: tests may patch convert.import_model

    entry = get_entry(name)
    urls = [url] if url else list(entry.urls)
    if not urls:
        raise ModelImportError(f"registry entry {entry.name} has no download URL; import it from a local file: "
                               f"btsbot-fast models import /path/to/{entry.name}.tar")
    errors = []
    home_dir = model_home(home)
    with tempfile.TemporaryDirectory(prefix="btsbot-pull-") as tmp:
        dest = Path(tmp) / f"{entry.name}.tar"
        for u in urls:
            try:
                sha = _download(u, dest, timeout)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                errors.append(f"{u}: {getattr(exc, 'reason', exc)}")
                continue
            if entry.sha256 and sha != entry.sha256:
                errors.append(f"{u}: sha256 {sha} does not match the registry's {entry.sha256}")
                continue
            return convert.import_model(dest, name=entry.name, home=home_dir, **import_kwargs)
    raise ModelImportError(
        f"could not download {entry.name}:\n  " + "\n  ".join(errors) + "\n"
        f"To import it offline, fetch {entry.url} (sha256 {entry.sha256}) on a machine with network access, "
        f"copy it here and run:\n  btsbot-fast models import /path/to/{entry.name}.tar")
