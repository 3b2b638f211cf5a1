"""``btsbot-fast show`` and ``btsbot-fast report`` (registered by ``btsbot_fast.cli``)."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import click

from ..scorer_options import ScorerOptions, scorer_options
from .alert import OCCLUSION_PATCH, score_text
from .figure import FIGURE_DPI


def _require_figures(what: str) -> None:
    from .figure import require_figures

    try:
        require_figures(what)
    except ImportError as exc:
        raise click.ClickException(str(exc)) from None


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--candid", type=int, default=None, help="The alert to draw, when PATHS hold several.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="PNG to write (default: OBJECTID_CANDID.png in the current folder).")
@click.option("--saliency", is_flag=True, help="Add an occlusion map per channel (score drop per masked patch).")
@click.option("--patch", type=click.IntRange(1, 63), default=OCCLUSION_PATCH, show_default=True,
              help="Occlusion patch size in pixels (--saliency).")
@click.option("--dpi", type=click.IntRange(min=58), default=FIGURE_DPI, show_default=True,
              help="Resolution: the figure is 14 inches wide (at least 800 x 500 pixels).")
@scorer_options
def show(paths, candid, output, saliency, patch, dpi, scorer_options: ScorerOptions) -> None:
    """Draw one alert as BTSbot saw it: the model's inputs, the cutouts as a scanner sees them, the light
    curve, the 25 features, the score and the BTS filter's verdict.

    PATHS: alert files, directories, archives, Parquet tables, or ARCHIVE::MEMBER (a score row's
    source). The alert is the one with --candid among them, or the only one there is."""
    from .alert import AlertNotFound
    from .figure import draw_alert
    from .report import show_alert

    missing = [p for p in paths if not os.path.exists(p) and not os.path.exists(p.split("::")[0])]
    if missing:
        raise click.ClickException(f"no such file or directory: {', '.join(missing)}")
    _require_figures("btsbot-fast show")
    scorer = scorer_options.open()
    try:
        view = show_alert(scorer, paths, candid, saliency=saliency, patch=patch)
    except AlertNotFound as exc:
        raise click.ClickException(str(exc)) from None
    r = view.result
    if output is None:
        output = Path(f"{r.objectId or 'alert'}_{r.candid}.png" if r.candid is not None
                      else f"{Path(r.source).stem}_{r.record_index}.png")
    draw_alert(view, output, dpi=dpi)
    score = f"score {score_text(r.score)}" if r.score is not None else f"{r.status}: {r.error}"
    # an alert that could not be read has no ids: the file and record index name it
    alert = f"{r.objectId} candid {r.candid}" if r.candid is not None else f"{r.source}[{r.record_index}]"
    click.echo(f"{alert}: {score} -> {output}", err=True)


@click.command()
@click.argument("scores", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--alerts", "alert_paths", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Alert files, directories or archives holding the scored alerts (for the pictures); "
                   "repeatable. SCORES that are alert files are used too.")
@click.option("--state", default=None, help="An autoscan state (file or postgresql:// URL): show its decisions and "
                                            "the state of their actions (read only).")
@click.option("--policy", default="bts_p1", show_default=True, help="The policy whose decision the table shows.")
@click.option("--truth", "truth_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="With --state: a truth table for the monitor's section (repeatable; see `btsbot-fast monitor`).")
@click.option("--monitor-config", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="With --state: the monitor's TOML (truth tables, classes; SkyPortal answers from its cache only).")
@click.option("--jobs", type=click.IntRange(min=0), default=0, show_default=True,
              help="Processes drawing pictures (0 = one per core).")
@click.option("--title", default=None, help="Page title (default: the first SCORES file's name).")
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for index.html and its pictures.")
@scorer_options
def report(scores, alert_paths, state, policy, truth_files, monitor_config, jobs, title, out_dir,
           scorer_options: ScorerOptions) -> None:
    """A static night page: one row per source (sortable, filterable), a section per source with the `show`
    figure of its best alert, its score history and its alerts; a summary on top. Opens offline.

    SCORES: score tables written by `btsbot-fast score` (.csv, .jsonl, .parquet), or alert files to score."""
    from ..autoscan.inputs import InputError, is_score_table, result_rows
    from ..policies import Policy
    from .report import night_report

    try:
        Policy.parse(policy)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--policy") from None
    _require_figures("btsbot-fast report")
    scorer = None

    def open_scorer():
        nonlocal scorer
        if scorer is None:
            scorer = scorer_options.open()
        return scorer

    t0 = time.perf_counter()
    try:
        rows = list(result_rows(list(scores), open_scorer))
    except InputError as exc:
        raise click.ClickException(str(exc)) from None
    alerts = list(alert_paths) + [p for p in scores if not is_score_table(p)]
    if (truth_files or monitor_config) and not state:
        raise click.UsageError("--truth and --monitor-config need --state (the decisions they judge)")
    monitor = _monitor_section(state, truth_files, monitor_config) if state else None
    with contextlib.ExitStack() as stack:
        store = None
        if state:
            from ..autoscan.state import StateError, is_postgres_location, open_store

            if not is_postgres_location(state) and not os.path.exists(state):
                raise click.ClickException(f"no autoscan state at {state}")
            try:
                store = stack.enter_context(open_store(state, dry_run=True))
            except StateError as exc:
                raise click.ClickException(str(exc)) from None
        page = night_report(rows, out_dir, alerts=alerts, scorer=open_scorer, store=store, policy=policy,
                            jobs=jobs, title=title or f"btsbot-fast night report: {Path(scores[0]).name}",
                            echo=lambda s: click.echo(s, err=True), monitor=monitor)
    click.echo(f"{len(rows)} alerts -> {page} in {time.perf_counter() - t0:.1f} s", err=True)


def _monitor_section(state, truth_files, config_path):
    """The night page's monitor section, as ``monitor`` measures it (SkyPortal answers from its cache only)."""
    from dataclasses import replace

    from ..autoscan.config import ConfigError
    from ..autoscan.state import StateError
    from ..monitor.config import MonitorConfig, load_monitor_config
    from ..monitor.run import measure_state
    from ..monitor.section import monitor_section
    from ..monitor.skyportal import cached_truth
    from ..monitor.truth import TruthError

    try:
        config = load_monitor_config(config_path) if config_path else MonitorConfig()
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    sp = config.skyportal
    cached = [cached_truth(sp.cache, sp.url, sp.scanner_group_id)] if sp is not None and sp.cache else []
    config = replace(config, truth=config.truth + tuple(truth_files), skyportal=None)
    try:
        run = measure_state(state, config, extra_truth=cached)
    except (StateError, TruthError) as exc:
        raise click.ClickException(str(exc)) from None
    if cached:
        run.result["truth"]["skyportal_cache"] = str(sp.cache)
    return lambda out_dir, links: monitor_section(run, out_dir, config, links)
