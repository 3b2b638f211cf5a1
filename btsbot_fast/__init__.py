"""btsbot-fast: fast, exact scoring of ZTF alert packets with BTSbot."""

from __future__ import annotations

__version__ = "0.1.0"

from .status import Status

__all__ = ["Scorer", "Status", "__version__"]


def __getattr__(name: str):
    # Scorer pulls in onnxruntime; import it lazily so `btsbot_fast.status` etc. stay cheap.
    if name == "Scorer":
        from .scorer import Scorer

        return Scorer
    raise AttributeError(name)
