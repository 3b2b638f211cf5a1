"""``btsbot-fast monitor`` (registered by ``btsbot_fast.cli``)."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import replace
from pathlib import Path

import click


def _utc(text: str | None, what: str) -> float | None:
    """A date or time (ISO; naive = UTC) as Unix seconds."""
    if text is None:
        return None
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO date or time (e.g. 2024-05-31 or 2024-05-31T12:00)",
                                 param_hint=what) from None
    return (t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)).timestamp()


@click.command()
@click.option("--state", required=True, help="The autoscan state (SQLite file or postgresql:// URL), read only.")
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for monitor.json, monitor.prom and the figures.")
@click.option("--truth", "truth_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A truth table (repeatable): the BTS Sample Explorer's CSV, or objectId,type[,peakmag][,saved_at].")
@click.option("--skyportal-url", default=None, help="Take classifications, TNS names and the scanners' save times "
                                                    "from this SkyPortal (Fritz).")
@click.option("--scanner-group-id", type=int, default=None,
              help="The scanners' group (its saved_at is when the scanners saved a source).")
@click.option("--token-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File holding the SkyPortal token (default: $SKYPORTAL_TOKEN).")
@click.option("--cache", "cache_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="SkyPortal answers cache (SQLite; default DIR/skyportal_cache.sqlite): a rerun asks only about "
                   "what is new.")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Monitor TOML: truth tables, [skyportal], [classes] (class -> real), bright_mag.")
@click.option("--window", type=click.Choice(["night", "week", "month"]), default=None,
              help="Decisions of the last night (24 h), week or month before --until (default: all, plus the "
                   "last 30 nights).")
@click.option("--since", default=None, help="Decisions made from this UTC date/time on (ISO).")
@click.option("--until", default=None, help="Decisions made before this UTC date/time (ISO; default now).")
@click.option("--figures/--no-figures", default=True, show_default=True, help="Draw the PNGs (needs matplotlib).")
def monitor(state, out_dir, truth_files, skyportal_url, scanner_group_id, token_file, cache_path, config_path, window,
            since, until, figures) -> None:
    """Measure the decisions in an autoscan state against the truth: purity, completeness and delay against
    the scanners, per policy, as the BTSbot team measures them. Writes DIR/monitor.json, DIR/monitor.prom
    (node_exporter textfile format) and the figures (DIR/figure3_POLICY.png, DIR/purity_weekly.png).

    Read only: a running stream never waits for it."""
    from ..autoscan.config import ConfigError, read_token
    from ..autoscan.skyportal import AuthError
    from ..autoscan.state import StateError
    from ..secrets import SecretError, refuse_password_in_url
    from .config import MonitorConfig, MonitorSkyPortal, load_monitor_config
    from .prom import require_prometheus_client
    from .run import measure_state, write_outputs
    from .skyportal import CACHE_NAME
    from .truth import TruthError

    t_since, t_until = _utc(since, "--since"), _utc(until, "--until")
    if window is not None and since is not None:
        raise click.UsageError("--window counts back from --until: give --window or --since, not both")
    if t_since is not None and t_until is not None and t_since >= t_until:
        raise click.UsageError("--since must be before --until")
    try:
        refuse_password_in_url(state, "--state")
        config = load_monitor_config(config_path) if config_path else MonitorConfig()
        config = replace(config, truth=config.truth + tuple(truth_files))
        if skyportal_url or scanner_group_id is not None or token_file is not None:
            base = config.skyportal
            url = skyportal_url or (base.url if base else None)
            if not url:
                raise ConfigError("--scanner-group-id and --token-file need --skyportal-url")
            keep = {} if base is None else {k: getattr(base, k) for k in ("timeout", "concurrency", "rate",
                                                                           "max_attempts", "refresh", "cache")}
            config = replace(config, skyportal=MonitorSkyPortal(
                url=url, scanner_group_id=scanner_group_id if scanner_group_id is not None
                else (base.scanner_group_id if base else None),
                token_file=token_file or (base.token_file if base else None), **keep))
        token = read_token(config.skyportal.token_file) if config.skyportal else None
        require_prometheus_client()
        if figures:
            from .figures import require_matplotlib

            require_matplotlib()
    except (ConfigError, SecretError) as exc:
        raise click.UsageError(str(exc)) from None
    except ImportError as exc:
        raise click.ClickException(str(exc)) from None
    if "://" not in state and not os.path.exists(state):
        raise click.ClickException(f"no autoscan state at {state}")
    if config.skyportal is not None and config.skyportal.scanner_group_id is None:
        click.echo("monitor: no --scanner-group-id: SkyPortal gives classes but no scanners' save times (no delays)",
                   err=True)
    if not config.truth and config.skyportal is None:
        click.echo("monitor: no truth given (--truth, --skyportal-url): purity and completeness are null", err=True)
    try:
        run = measure_state(state, config, window=window, since=t_since, until=t_until,
                            cache=cache_path or (config.skyportal.cache if config.skyportal else None)
                            or Path(out_dir) / CACHE_NAME, token=token,
                            echo=lambda s: click.echo(s, err=True))
        files = write_outputs(run, out_dir, config, figures=figures)
    except (StateError, TruthError) as exc:
        raise click.ClickException(str(exc)) from None
    except AuthError as exc:
        raise click.ClickException(str(exc)) from None
    except ImportError as exc:
        raise click.ClickException(str(exc)) from None
    for policy, f in run.result["policies"].items():
        pur = "n/a" if f["purity"] is None else f"{100 * f['purity']:.1f}%"
        comp = "n/a" if f["completeness"] is None else f"{100 * f['completeness']:.1f}%"
        med = f["delays_days"]["median"]
        delay = "n/a" if med is None else f"{med:+.2f} d"
        click.echo(f"monitor {policy} ({run.window.name}): {f['decided']} decided, {f['classified']} classified, "
                   f"{f['real']} real: purity {pur}; "
                   f"completeness {comp} ({f['bts_bright_decided']}/{f['bts_bright']}); "
                   f"median delay {delay} (n = {f['delays_days']['n']}); {f['unclassified']} unclassified", err=True)
    if not run.result["policies"]:
        click.echo("monitor: the state holds no decision yet", err=True)
    if run.result["unmapped_classes"]:
        click.echo(f"monitor: classes no rule names (counted as not real): {', '.join(run.result['unmapped_classes'])}"
                   " - add them to [classes] in --config", err=True)
    click.echo(f"monitor: {len(files)} files -> {out_dir}", err=True)


__all__ = ["monitor"]
