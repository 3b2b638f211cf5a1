"""Re-derive the ONNX model shipped with the package from the official weights.

    python scripts/derive_shipped_model.py ../shared/models/btsbot-v1.0.1.tar \
        --licence ../shared/models/LICENSE-BTSbot.txt

Runs the registry import (sha256 against the entry, tf2onnx, ONNX Runtime vs TensorFlow gate) into a
temporary cache, copies ``model.onnx`` and ``model_card.json`` into ``models/<name>/`` (plus the upstream
licence text) and records the file's sha256 in the entry's ``shipped`` section. With the same converter
versions the result is byte-identical to the committed file. Needs the ``[tf]`` extra;
``btsbot-fast models verify`` checks the result.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from btsbot_fast import registry
from btsbot_fast.registry.cache import CARD_FILE, ONNX_FILE, sha256_file

MODELS = Path(__file__).resolve().parents[1] / "models"
LICENCE_FILE = "LICENSE-BTSbot.txt"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("tarball", type=Path, help="the official weights (a registry entry's tarball)")
    ap.add_argument("--licence", type=Path, default=None,
                    help=f"the upstream licence text to copy beside the model as {LICENCE_FILE}")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="btsbot-derive-") as tmp:
        m = registry.import_model(args.tarball, home=tmp)
        entry = registry.get_entry(m.name)
        if m.card.get("registry_entry") != entry.name:
            print(f"{args.tarball} is not a registry model's tarball", file=sys.stderr)
            return 1
        out = MODELS / entry.name
        out.mkdir(exist_ok=True)
        shutil.copyfile(m.onnx_path, out / ONNX_FILE)
        card = dict(m.card)
        # the card records where the tarball was on the deriving machine; keep only its name
        card["source"] = {**card["source"], "path": args.tarball.name}
        (out / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    if args.licence is not None:
        shutil.copyfile(args.licence, out / LICENCE_FILE)
    if not (out / LICENCE_FILE).is_file():
        print(f"warning: {out / LICENCE_FILE} is missing; pass --licence", file=sys.stderr)

    entry_file = MODELS / f"{entry.name}.json"
    doc = json.loads(entry_file.read_text(encoding="utf-8"))
    sha = sha256_file(out / ONNX_FILE)
    doc["shipped"] = {
        "dir": entry.name,
        "onnx_sha256": sha,
        "onnx_size": (out / ONNX_FILE).stat().st_size,
        "licence_file": f"{entry.name}/{LICENCE_FILE}",
        "derived_with": f"python scripts/derive_shipped_model.py {args.tarball.name} "
                        "(the registry import: btsbot-fast models import)",
        "conversion": {k: card["conversion"][k] for k in ("opset", "versions")},
        "parity_vs_tensorflow": card["parity"]["max_abs_diff"],
    }
    entry_file.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{out / ONNX_FILE}: sha256 {sha} (recorded in {entry_file.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
