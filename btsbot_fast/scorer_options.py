"""The Scorer's command-line options, shared by ``score``, ``stream`` and ``autoscan``, and the one way
those commands open a :class:`~btsbot_fast.scorer.Scorer` from them (errors become one-line messages).

A command decorated with :func:`scorer_options` receives one ``scorer_options`` argument (a
:class:`ScorerOptions`) instead of the individual options.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import click

from .backends import DEVICES
from .precision import PRECISIONS, parse_thresholds
from .prep import ENGINES
from .scorer import DEFAULT_BATCH_SIZE, DEFAULT_MODEL


@dataclass(frozen=True)
class ScorerOptions:
    model: str = DEFAULT_MODEL
    batch_size: int = DEFAULT_BATCH_SIZE
    threads: int = 0
    model_threads: int = 0
    engine: str = "native"
    device: str = "cpu"
    device_id: int = 0
    fp16: bool = False
    precision: str = "exact"
    #: ``--decision-thresholds`` as given (None: the defaults, 0.5 and 0.85)
    decision_thresholds: str | None = None

    def open(self, extra_thresholds: tuple[float, ...] = ()):
        """The Scorer these options describe; a missing model, an unusable device or an unloadable model
        file is a :class:`click.ClickException` (anything else is a bug and shows as one).
        ``extra_thresholds`` (the active autoscan policy's) join the decision thresholds of ``fast``."""
        from . import registry
        from .backends import DeviceUnavailableError, ModelLoadError
        from .prep import require_engine
        from .scorer import Scorer

        if self.fp16 and self.device != "tensorrt":
            raise click.UsageError("--fp16 needs --device tensorrt")
        if self.precision == "fast" and self.device != "cpu":
            raise click.UsageError("--precision fast runs on the CPU (--device cpu)")
        thresholds = None
        if self.decision_thresholds is not None:
            if self.precision != "fast":
                raise click.UsageError("--decision-thresholds applies to --precision fast")
            try:
                thresholds = parse_thresholds(self.decision_thresholds)
            except ValueError as exc:
                raise click.UsageError(str(exc)) from None
        if self.precision == "fast":
            from .precision import decision_thresholds

            thresholds = decision_thresholds(thresholds, extra_thresholds)  # None: the defaults
        try:
            require_engine(self.engine)
        except ImportError as exc:  # the engine's optional dependency
            raise click.ClickException(str(exc)) from None
        try:
            return Scorer(self.model, engine=self.engine, batch_size=self.batch_size, threads=self.threads,
                          intra_op_threads=self.model_threads, device=self.device, device_id=self.device_id,
                          fp16=self.fp16, precision=self.precision, decision_thresholds=thresholds)
        except (registry.ModelNotFoundError, DeviceUnavailableError) as exc:
            raise click.ClickException(str(exc)) from None
        except (registry.ModelCardError, ModelLoadError, OSError) as exc:
            raise click.ClickException(f"cannot load model {self.model!r}: {exc}") from None


#: preprocessing options (also used alone by ``preprocess``)
threads_option = click.option("--threads", type=click.IntRange(min=0), default=0, show_default=True,
                              help="Preprocessing threads (0 = all cores).")
engine_option = click.option("--engine", type=click.Choice(ENGINES), default="native", show_default=True,
                             help="Preprocessing engine: the C++ core, or the pure-Python (NumPy/astropy) twin.")

_OPTIONS = (
    click.option("--model", default=DEFAULT_MODEL, show_default=True,
                 help="Registry name, .onnx file, or a training run directory."),
    click.option("--batch-size", type=click.IntRange(min=1), default=DEFAULT_BATCH_SIZE, show_default=True,
                 help="Alerts scored together."),
    threads_option,
    click.option("--model-threads", type=click.IntRange(min=0), default=0, show_default=True,
                 help="ONNX Runtime intra-op threads (0 = all cores)."),
    engine_option,
    click.option("--device", type=click.Choice(DEVICES), default="cpu", show_default=True,
                 help="Where the model runs. cuda/tensorrt need onnxruntime-gpu (docs/gpu.md); an unusable "
                      "device is an error, never a silent CPU run."),
    click.option("--device-id", type=click.IntRange(min=0), default=0, show_default=True, help="GPU index."),
    click.option("--fp16", is_flag=True, help="Let TensorRT use half precision (--device tensorrt only)."),
    click.option("--precision", type=click.Choice(PRECISIONS), default="exact", show_default=True,
                 help="exact: every score from the fp32 model. fast: int8 model, re-scored with the fp32 model "
                      "near every decision threshold, so no decision changes (docs/fast-mode.md)."),
    click.option("--decision-thresholds", default=None, metavar="T[,T...]",
                 help="With --precision fast: the score thresholds decisions are taken at [default: 0.5,0.85; "
                      "autoscan adds its policy's]."),
)
_NAMES = tuple(f.name for f in fields(ScorerOptions))


def scorer_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the Scorer's options to a click command, handed over as one ``scorer_options`` argument."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        opts = ScorerOptions(**{name: kwargs.pop(name) for name in _NAMES})
        return command(*args, scorer_options=opts, **kwargs)

    for option in reversed(_OPTIONS):
        wrapper = option(wrapper)
    return wrapper


__all__ = ["ScorerOptions", "engine_option", "scorer_options", "threads_option"]
