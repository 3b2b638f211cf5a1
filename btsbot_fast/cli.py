"""The ``btsbot-fast`` command line: thin wrappers over the Python API."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

import click

from ._version import __version__
from .backends import ModelRunError
from .messages import plural
from .output import ResultWriter
from .scorer_options import ScorerOptions, engine_option, scorer_options, threads_option


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="btsbot-fast")
def main() -> None:
    """Fast, exact BTSbot scores for ZTF alert packets."""


_paths_arg = click.argument("paths", nargs=-1, required=True,
                            type=click.Path(exists=True, dir_okay=True, path_type=Path))


class _Progress:
    """A one-line progress display on stderr, redrawn in place at most four times a second."""

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
        click.echo(f"\r{plural(done, 'alert')} ({failed} failed), {rate:,.0f} alerts/s ", nl=final, err=True)


def _progress_allowed(rows_to_stdout: bool) -> bool:
    """Only on a terminal's stderr, and never on the terminal the rows are printed to (the redrawn line
    would land between them)."""
    return sys.stderr.isatty() and not (rows_to_stdout and sys.stdout.isatty())


class _PathTally:
    """Counts result rows per PATH argument, to name the directories and archives that held no alert.

    A result's ``source`` is the path as given (a file, ``dir/...`` for a walked directory,
    ``archive::member`` for an archive member) and results come in input order, so the search for its
    PATH starts with the next PATH (a PATH nested in the previous one takes its rows from there on), then
    the current one, then the rest (a PATH given twice). Ambiguity can only hide an empty PATH, never
    report a PATH that held alerts."""

    def __init__(self, paths):
        self.paths = list(dict.fromkeys(str(p) for p in paths))
        self.counts = [0] * len(self.paths)
        self.i = 0
        self.reliable = True

    @staticmethod
    def _owns(path: str, source: str) -> bool:
        return source == path or source.startswith((path.rstrip(os.sep) + os.sep, path + "::"))

    def add(self, source: str) -> None:
        n = len(self.paths)
        for k in (1, 0, *range(2, n)) if n > 1 else (0,):
            j = (self.i + k) % n
            if self._owns(self.paths[j], source):
                self.i = j
                self.counts[j] += 1
                return
        self.reliable = False  # a source named some other way: do not guess

    def empty(self) -> list[str]:
        return [p for p, n in zip(self.paths, self.counts) if n == 0] if self.reliable else []


def _check_paths(paths) -> None:
    missing = [str(p) for p in paths if not os.path.exists(p)]
    if missing:
        raise click.ClickException(f"no such file or directory: {', '.join(missing)}")


#: a small real sample that ships with the package (PROVENANCE.md beside it says where each file comes from)
EXAMPLE_ALERTS = Path(__file__).resolve().parent / "examples" / "alerts"


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--example", is_flag=True,
              help="Score the small sample of real alerts that ships with the package, instead of PATHs.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Output file: .csv, .jsonl or .parquet (default: CSV to stdout).")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "parquet"]), default=None,
              help="Output format, when the file name does not tell.")
@scorer_options
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Progress line on stderr, shown only when stderr is a terminal that rows are not printed to.")
def score(paths, example, output, fmt, scorer_options: ScorerOptions, progress) -> None:
    """Score alert files, directories (searched recursively), .tar/.tar.gz nights and Parquet alert
    tables. One row per alert record; `--example` scores the sample that ships with the package.

    \b
    Exit status:
      0  every PATH held alerts, even if some of them failed (their rows say why)
      1  a PATH does not exist, a directory or archive holds no alert file, the model
         cannot be opened, or the output cannot be written
      2  a wrong option or value (see --help)"""
    if example and paths:
        raise click.UsageError("give PATHs or --example, not both")
    if example:
        paths = (EXAMPLE_ALERTS,)
    if not paths:
        raise click.UsageError("Missing argument 'PATHS...' (or --example: score the sample that ships with "
                               "the package)")
    _check_paths(paths)
    try:
        writer = ResultWriter(output, fmt)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    scorer = scorer_options.open()

    bar = _Progress(progress and _progress_allowed(writer.path is None))
    tally = _PathTally(paths)
    done = failed = 0
    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(writer)
        except OSError as exc:
            raise click.ClickException(f"cannot write {output}: {exc}") from None
        try:
            for result in scorer.score_files(paths):
                writer.write(result.as_dict())
                tally.add(result.source)
                done += 1
                failed += result.status != "ok"
                bar.update(done, failed)
        except ModelRunError as exc:  # a broken runtime: the output is not completed (rows so far: .partial)
            bar.update(done, failed, final=True)
            kept = f"; the {done} rows scored before it are in {output}.partial" if output and done else ""
            raise click.ClickException(f"scoring stopped: {exc}{kept}") from None
        if done == 0:  # leaves no output file behind
            raise click.ClickException(f"no alert files found in {', '.join(map(str, paths))}")
    elapsed = time.perf_counter() - t0
    bar.update(done, failed, final=True)
    where = f" -> {output}" if output else ""
    screen = scorer.screening
    fast = (f", precision fast: {screen.rescored} of {screen.screened} re-scored in fp32 near "
            f"{', '.join(f'{t:g}' for t in scorer.decision_thresholds)}") if screen is not None else ""
    click.echo(f"scored {done - failed}, failed {failed}, {plural(done, 'alert')} in {elapsed:.2f} s "
               f"({done / max(elapsed, 1e-9):,.0f} alerts/s) with {scorer.model_name} on {scorer_options.device}"
               f"{fast}{where}", err=True)
    empty = tally.empty()
    if empty:
        raise click.ClickException(f"no alert files found in {', '.join(empty)} (the other paths were scored)")


@main.command()
@_paths_arg
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output .npz file.")
@click.option("--batch-size", type=click.IntRange(min=1), default=1024, show_default=True,
              help="Alerts per preprocessed batch (up to three batches are in memory at once).")
@threads_option
@engine_option
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
    click.echo(f"preprocessed {plural(rows, 'alert')} ({ok} ok, {rows - ok} failed) -> {output}", err=True)


def _register_subcommands() -> None:
    # each group lives beside the code it drives; importing them is cheap (TensorFlow loads on use)
    from .autoscan.commands import autoscan
    from .evaluate.commands import evaluate
    from .monitor.commands import monitor
    from .registry.commands import models
    from .show.commands import report, show
    from .stream.commands import stream
    from .train.commands import train

    for command in (models, train, evaluate, stream, autoscan, monitor, show, report):
        main.add_command(command)


_register_subcommands()
