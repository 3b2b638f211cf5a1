"""The ``btsbot-fast`` command line: thin wrappers over the Python API."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from . import __version__
from .output import ResultWriter
from .prep import ENGINES
from .scorer import DEFAULT_BATCH_SIZE, DEFAULT_MODEL


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="btsbot-fast")
def main() -> None:
    """Fast, exact BTSbot scores for ZTF alert packets."""


_paths_arg = click.argument("paths", nargs=-1, required=True,
                            type=click.Path(exists=True, dir_okay=True, path_type=Path))
_engine_opt = click.option("--engine", type=click.Choice(ENGINES), default="native", show_default=True,
                           help="Preprocessing engine: the C++ core, or the pure-Python (NumPy/astropy) twin.")
_threads_opt = click.option("--threads", type=click.IntRange(min=0), default=0, show_default=True,
                            help="Preprocessing threads (0 = all cores).")


class _Progress:
    """A one-line progress display on a terminal's stderr (nothing when stderr is not a terminal)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.start = time.perf_counter()
        self.last = 0.0

    def update(self, done: int, failed: int, final: bool = False) -> None:
        now = time.perf_counter()
        if not self.enabled or (not final and now - self.last < 0.25):
            return
        self.last = now
        rate = done / max(now - self.start, 1e-9)
        click.echo(f"\r{done} alerts ({failed} failed), {rate:,.0f} alerts/s ", nl=final, err=True)


@main.command()
@_paths_arg
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Output file: .csv, .jsonl or .parquet (default: CSV to stdout).")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "parquet"]), default=None,
              help="Output format, when the file name does not tell.")
@click.option("--model", default=DEFAULT_MODEL, show_default=True,
              help="Registry name, .onnx file, or a training run directory.")
@click.option("--batch-size", type=click.IntRange(min=1), default=DEFAULT_BATCH_SIZE, show_default=True)
@_threads_opt
@click.option("--model-threads", type=click.IntRange(min=0), default=0, show_default=True,
              help="ONNX Runtime intra-op threads (0 = all cores).")
@_engine_opt
@click.option("--progress/--no-progress", default=None, help="Progress line on stderr (default: when a terminal).")
def score(paths, output, fmt, model, batch_size, threads, model_threads, engine, progress) -> None:
    """Score alert files, directories (recursive) and .tar/.tar.gz nights. One row per alert record."""
    from . import registry
    from .scorer import Scorer

    try:
        writer = ResultWriter(output, fmt)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        scorer = Scorer(model, engine=engine, batch_size=batch_size, threads=threads,
                        intra_op_threads=model_threads)
    except registry.ModelNotFoundError as exc:
        raise click.ClickException(str(exc)) from None
    except ImportError as exc:  # an engine's optional dependency
        raise click.ClickException(str(exc)) from None
    except (registry.ModelCardError, ValueError, OSError) as exc:
        raise click.ClickException(f"cannot load model {model!r}: {exc}") from None

    shown = sys.stderr.isatty() if progress is None else progress
    bar = _Progress(shown)
    done = failed = 0
    t0 = time.perf_counter()
    try:
        with writer:
            for result in scorer.score_files(paths):
                writer.write(result.as_dict())
                done += 1
                failed += result.status != "ok"
                bar.update(done, failed)
    except RuntimeError as exc:  # e.g. parquet without pyarrow
        raise click.ClickException(str(exc)) from None
    elapsed = time.perf_counter() - t0
    bar.update(done, failed, final=True)
    where = f" -> {output}" if output else ""
    click.echo(f"scored {done - failed}, failed {failed}, {done} alerts in {elapsed:.2f} s "
               f"({done / max(elapsed, 1e-9):,.0f} alerts/s) with {scorer.model_name}{where}", err=True)


@main.command()
@_paths_arg
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output .npz file.")
@click.option("--batch-size", type=click.IntRange(min=1), default=1024, show_default=True)
@_threads_opt
@_engine_opt
def preprocess(paths, output, batch_size, threads, engine) -> None:
    """Preprocess alerts into an .npz (triplets, metadata, candid, objectId, jd, status, message, source)."""
    from .prep import path_batches, require_engine
    from .prep.npz import write_npz
    from .threads import prefetched

    try:
        require_engine(engine)
    except ImportError as exc:
        raise click.ClickException(str(exc)) from None
    # batch k+1 is preprocessed (GIL released) while batch k is written; 3 array sets in turn: the one
    # written, the one queued, the one being filled
    rows, ok = write_npz(prefetched(path_batches(paths, batch_size, engine, threads, recycle=3), 1), output)
    click.echo(f"preprocessed {rows} alerts ({ok} ok, {rows - ok} failed) -> {output}", err=True)


def _register_subcommands() -> None:
    # each group lives beside the code it drives; importing them is cheap (TensorFlow loads on use)
    from .autoscan.commands import autoscan
    from .registry.commands import models
    from .train.commands import evaluate, train

    for command in (models, train, evaluate, autoscan):
        main.add_command(command)


_register_subcommands()
