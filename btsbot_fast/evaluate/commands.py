"""``btsbot-fast evaluate`` (registered by ``btsbot_fast.cli``).

Importing this module is cheap: TensorFlow and matplotlib load only when the command runs.
"""

from __future__ import annotations

from pathlib import Path

import click

_ENGINES = ("native", "python")


@click.command()
@click.option("--model", required=True, help="Registry name, .onnx file, or a training run directory.")
@click.option("--data", "data_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Same layouts as `train --data`.")
@click.option("--split", type=click.Choice(["train", "val", "test", "all"]), default="test", show_default=True)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for metrics.json, scores.csv, sources.csv and the PNG figures.")
@click.option("--policy", "policies", multiple=True,
              help="Source-level policy (repeatable): gtN, bts_p1, bts_p2, prod_p1, prod_p2, optionally @THRESHOLD "
                   "(e.g. gt1@0.3). Default: gt1 gt2 gt3 bts_p1 bts_p2 prod_p1 prod_p2.")
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Alert-level threshold, and the default for the gtN / bts_* policies.")
@click.option("--strict/--inclusive", default=True, show_default=True,
              help="Count score > threshold (upstream's code, the default everywhere) or score >= threshold "
                   "(the papers' wording); they differ only on exact ties.")
@click.option("--ref-times", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="CSV objectId,jd of reference identification times: adds trigger-delay distributions.")
@click.option("--tag", default=None, help="Which file set of a release-layout directory.")
@click.option("--labels", default=None, help="Labels CSV for alert-packet data (default DATA/labels.csv).")
@click.option("--split-seed", type=int, default=None,
              help="Seed of the object split for packet data without a split column (default: the model card's).")
@click.option("--engine", type=click.Choice(_ENGINES), default="native", show_default=True)
@click.option("--threads", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--candidates", type=click.Choice(["bts", "all"]), default=None,
              help="bts: source-level decisions on BTS candidates only, as autoscan decides (needs the alerts' "
                   "bts_candidate verdicts); all: on every object. Default: bts where the data have verdicts.")
def evaluate(model, data_dir, split, out_dir, policies, threshold, strict, ref_times, tag, labels, split_seed,
             engine, threads, candidates) -> None:
    """Alert- and source-level evaluation as in the BTSbot papers: metrics.json and PNG figures."""
    from .. import registry
    from ..policies import DEFAULT_POLICIES, Policy
    from ..train.data import DataError
    from .run import evaluate as run_evaluate

    try:
        for p in policies:
            Policy.parse(p)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--policy") from None
    fractions, seed = (0.81, 0.09, 0.10), 2
    try:
        card = registry.resolve(model).card
        tdata = (card.get("training") or {}).get("data") or {}
        fractions = tuple(tdata.get("split_fractions") or fractions)
        seed = int(tdata.get("split_seed", seed))
    except registry.ModelNotFoundError as exc:
        raise click.ClickException(str(exc)) from None
    except (registry.ModelCardError, ValueError, TypeError) as exc:
        raise click.ClickException(f"cannot load model {model!r}: {exc}") from None
    if split_seed is not None:
        seed = split_seed
    try:
        run_evaluate(model, data_dir, out_dir, split=split, policies=policies or DEFAULT_POLICIES,
                     threshold=threshold, strict=strict, ref_times=ref_times, tag=tag, labels=labels,
                     split_fractions=fractions, split_seed=seed, engine=engine, threads=threads,
                     candidates=candidates, echo=lambda s: click.echo(s, err=True))
    except DataError as exc:
        raise click.ClickException(str(exc)) from None
