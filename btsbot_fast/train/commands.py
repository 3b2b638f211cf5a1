"""``btsbot-fast train`` (registered by ``btsbot_fast.cli``).

Importing this module is cheap: TensorFlow loads only when the command runs.
"""

from __future__ import annotations

from pathlib import Path

import click

from .config import ARCHS, ConfigError, load_config, make_config, shipped_config_path, shipped_configs
from .data import DataError

_ENGINES = ("native", "python")


def _resolve_config_path(value: str) -> Path:
    p = Path(value)
    if p.is_file():
        return p
    shipped = shipped_config_path(value)
    if shipped.is_file():
        return shipped
    raise click.BadParameter(f"no such file {value!r} (shipped configs: {', '.join(shipped_configs()) or 'none'})",
                             param_hint="--config")


@click.command()
@click.option("--config", "config_path", default=None, metavar="CONFIG.json",
              help="Training config (JSON); a shipped one by name: " + "mm_cnn, mi_cnn, synthetic_small.")
@click.option("--arch", type=click.Choice(ARCHS), default=None,
              help="Architecture, with its published hyperparameters (when no --config).")
@click.option("--data", "data_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Public-release layout directory ({train,val,test}_triplets_*.npy + _cand_*.csv), "
                   "or a directory of alert files with labels.csv (objectId,label[,split]).")
@click.option("--out", "run_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Run directory to write (model.keras, model.onnx, model_card.json, history).")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Override the config's maximum epochs.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Override the config's batch size.")
@click.option("--seed", type=int, default=None, help="Override the training seed.")
@click.option("--name", default=None, help="Model name written to the model card.")
@click.option("--max-batches", type=click.IntRange(min=1), default=None,
              help="Use at most this many batches per epoch (quick trials, timing).")
@click.option("--tag", default=None, help="Which file set of a release-layout directory (the * in *_triplets_*.npy).")
@click.option("--labels", default=None, help="Labels CSV for alert-packet data (default DATA/labels.csv).")
@click.option("--engine", type=click.Choice(_ENGINES), default="native", show_default=True,
              help="Preprocessing engine for alert-packet data.")
@click.option("--threads", type=click.IntRange(min=0), default=0, show_default=True,
              help="TensorFlow / preprocessing threads (0 = all cores).")
@click.option("--overwrite", is_flag=True, help="Replace an existing run in --out.")
def train(config_path, arch, data_dir, run_dir, epochs, batch_size, seed, name, max_batches, tag, labels, engine,
          threads, overwrite) -> None:
    """Train mm_cnn / mi_cnn and export a model that `btsbot-fast score --model RUN_DIR` uses directly."""
    try:
        if config_path:
            cfg = load_config(_resolve_config_path(config_path))
            if arch and arch != cfg["arch"]:
                raise click.UsageError(f"--arch {arch} contradicts the config's arch {cfg['arch']}")
        else:
            cfg = make_config(arch=arch or "mm_cnn")
        over = {}
        if epochs:
            over["epochs"] = epochs
        if batch_size:
            over["batch_size"] = batch_size
        if seed is not None:
            over["seed"] = seed
        cfg["training"].update(over)
        if name:
            cfg["name"] = name
        cfg = make_config(cfg)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    from .export import ParityError
    from .trainer import train as run_training

    try:
        run_training(cfg, data_dir, run_dir, tag=tag, labels=labels, engine=engine, threads=threads or None,
                     max_batches=max_batches, overwrite=overwrite, echo=lambda s: click.echo(s, err=True))
    except (DataError, ConfigError, FileExistsError, ParityError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"done: btsbot-fast score --model {run_dir} ALERTS...", err=True)
