"""Re-derive the int8 screening model shipped with the package (``--precision fast``).

    python scripts/derive_int8_model.py btsbot-v1.0.1 \
        --calibration ../shared/data/ztf/dev --validation ../shared/data/parquet/dev

Runs ``btsbot-fast models quantize`` on the shipped fp32 model into a temporary directory (the procedure:
btsbot_fast/registry/quantize.py, docs/fast-mode.md), copies ``model.int8.onnx`` into ``models/<name>/``,
puts the card's ``int8`` section (method, calibration and validation sets, error distribution, margin,
speed) into ``models/<name>/model_card.json`` and records the file's sha256 in the
entry's ``shipped.int8`` section, which is checked whenever the file is opened. With the same alerts and
library versions the file is byte-identical to the committed one. Needs onnx (the ``[quantize]`` extra).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from btsbot_fast import registry
from btsbot_fast.registry.cache import CARD_FILE, INT8_FILE
from btsbot_fast.registry.quantize import DEFAULT_SAFETY_FACTOR, quantize_model

MODELS = Path(__file__).resolve().parents[1] / "models"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("name", help="a shipped registry model")
    ap.add_argument("--calibration", nargs="+", required=True, help="real alerts that set the int8 scales")
    ap.add_argument("--validation", "--holdout", nargs="+", required=True,
                    help="other real alerts: the error (under the 8 transforms and the stress perturbations) "
                         "and the margin")
    ap.add_argument("--safety-factor", type=float, default=DEFAULT_SAFETY_FACTOR)
    args = ap.parse_args(argv)

    entry = registry.get_entry(args.name)
    if entry.shipped_dir is None:
        print(f"{entry.name} is not shipped with the package", file=sys.stderr)
        return 1
    out = MODELS / entry.name
    with tempfile.TemporaryDirectory(prefix="btsbot-int8-") as tmp:
        m = quantize_model(registry.resolve_shipped(entry), args.calibration, args.validation, output_dir=tmp,
                           safety_factor=args.safety_factor)
        shutil.copyfile(m.int8.onnx_path, out / INT8_FILE)
    section = m.card["int8"]
    card_file = out / CARD_FILE
    card = json.loads(card_file.read_text(encoding="utf-8"))
    card["int8"] = section
    card_file.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")

    entry_file = MODELS / f"{entry.name}.json"
    doc = json.loads(entry_file.read_text(encoding="utf-8"))
    doc["shipped"]["int8"] = {
        "file": f"{entry.name}/{INT8_FILE}",
        "onnx_sha256": section["onnx_sha256"],
        "onnx_size": section["onnx_size"],
        "margin": section["margin"],
        "derived_with": "python scripts/derive_int8_model.py " + entry.name + " --calibration "
                        + " ".join(args.calibration) + " --validation " + " ".join(args.validation)
                        + " (btsbot-fast models quantize)",
    }
    entry_file.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{out / INT8_FILE}: sha256 {section['onnx_sha256']}, margin {section['margin']} "
          f"(recorded in {entry_file.name} and {card_file.relative_to(MODELS.parent)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
