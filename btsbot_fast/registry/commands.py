"""``btsbot-fast models ...``: import, list, path, pull, verify, quantize."""

from __future__ import annotations

import functools

import click

from . import cache, entries
from .errors import ModelCardError, ModelImportError, ModelNotFoundError
from .quantize import DEFAULT_LAYERS


def _home_option(f):
    return click.option("--home", type=click.Path(file_okay=False), default=None,
                        help="model cache directory (default: $BTSBOT_FAST_HOME, else the user cache dir)")(f)


def _friendly(f):
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        try:
            return f(*args, **kwargs)
        except (ModelNotFoundError, ModelImportError, ModelCardError) as exc:
            raise click.ClickException(str(exc)) from None
    return wrapper


@click.group("models")
def models() -> None:
    """Manage models: the registry, importing TensorFlow weights as ONNX, the local model cache."""


@models.command("import")
@click.argument("path", type=click.Path(exists=True))
@click.option("--name", default=None, help="registry entry (checked against its sha256) or a new model name")
@click.option("--opset", type=click.IntRange(17, 18), default=None, help="ONNX opset (default: the entry's, else 17)")
@click.option("--replace-shipped", is_flag=True,
              help="For a model the package ships: convert it here and use that instead, if it scores the golden "
                   "and reference inputs within 1e-6 of the recorded production scores.")
@click.option("--golden", type=click.Path(exists=True, file_okay=False), default=None,
              help="With --replace-shipped: BTSbot's example inputs (as for models verify).")
@click.option("--reference", type=click.Path(exists=True, file_okay=False), default=None,
              help="With --replace-shipped: the real reference alerts' inputs (as for models verify).")
@_home_option
@_friendly
def import_cmd(path: str, name: str | None, opset: int | None, replace_shipped: bool, golden: str | None,
               reference: str | None, home: str | None) -> None:
    """Import a TF SavedModel (tarball or directory), convert it to ONNX and verify it against TensorFlow.

    A model the package ships is kept as shipped (its identity checked, nothing stored) unless
    --replace-shipped."""
    from . import import_model

    m = import_model(path, name=name, home=home, opset=opset, replace_shipped=replace_shipped, golden=golden,
                     reference=reference)
    if m.origin == "shipped":
        click.echo(f"{path} is {m.name} {m.version}, which ships with btsbot-fast: kept the shipped {m.onnx_path}; "
                   "nothing imported (--replace-shipped converts it here and uses that instead, if its scores "
                   "stay within 1e-6 of the recorded production scores)")
        return
    p = m.card.get("parity", {})
    rec = m.card.get("recorded_parity")
    click.echo(f"imported {m.name} {m.version} -> {m.onnx_path}")
    click.echo(f"parity vs TensorFlow: max |diff| = {p.get('max_abs_diff', float('nan')):.3g} "
               f"(tolerance {p.get('tolerance', float('nan')):g}, {p.get('n_inputs')} probe inputs); "
               f"opset {m.card.get('conversion', {}).get('opset')}")
    if rec:
        click.echo("vs the recorded production scores: " + ", ".join(
            f"{k} {v:.3g}" for k, v in rec["max_abs_diff"].items()) + f" (allowed {rec['tolerance']:g})")


@models.command("list")
@_home_option
@_friendly
def list_cmd(home: str | None) -> None:
    """Registry entries, whether each ships with the package or is imported in the cache (plus other
    cached models). An imported copy takes precedence over the shipped one."""
    home_dir = cache.model_home(home)
    cached = cache.cached_models(home_dir)
    click.echo(f"model cache: {home_dir}")
    rows = []
    for e in entries.list_entries():
        d = cached.pop(e.name, None)
        if d is not None:
            rows.append((e.name, e.version, "imported" + (" (used instead of the shipped copy)" if e.shipped else ""),
                         str(d / cache.ONNX_FILE)))
        elif e.shipped_dir is not None:
            rows.append((e.name, e.version, "shipped", str(e.shipped_dir / cache.ONNX_FILE)))
        else:
            rows.append((e.name, e.version, "not imported", "-"))
    for n, d in cached.items():
        try:
            m = cache.resolve(d)
            version = m.version
        except (ModelNotFoundError, ModelCardError) as exc:
            version = f"invalid ({exc})"
        rows.append((n, version, "imported (not in registry)", str(d / cache.ONNX_FILE)))
    widths = [max(len(r[i]) for r in rows + [("NAME", "VERSION", "STATUS", "PATH")]) for i in range(3)]
    for r in [("NAME", "VERSION", "STATUS", "PATH")] + rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r[:3], widths)) + "  " + r[3])


@models.command("path")
@click.argument("name")
@_home_option
@_friendly
def path_cmd(name: str, home: str | None) -> None:
    """Print the ONNX file a model name resolves to (imported, else shipped; fails, saying how to import
    it, when neither exists)."""
    click.echo(str(cache.resolve(name, home=home).onnx_path))


@models.command("pull")
@click.argument("name")
@click.option("--url", default=None, help="download from this URL instead of the registry's")
@click.option("--timeout", type=float, default=60.0, show_default=True, help="network timeout, seconds")
@_home_option
@_friendly
def pull_cmd(name: str, url: str | None, timeout: float, home: str | None) -> None:
    """Download a registry model, check its sha256, import it."""
    from . import pull

    m = pull(name, home=home, url=url, timeout=timeout)
    if m.origin == "shipped":
        click.echo(f"downloaded {m.name} {m.version} (sha256 checked); it ships with btsbot-fast: kept the shipped "
                   f"{m.onnx_path} (models import --replace-shipped converts it here instead)")
        return
    click.echo(f"imported {m.name} {m.version} -> {m.onnx_path}")
    click.echo(f"parity vs TensorFlow: max |diff| = {m.card.get('parity', {}).get('max_abs_diff', float('nan')):.3g}")


@models.command("verify")
@click.argument("name")
@click.argument("tarball", type=click.Path(exists=True, dir_okay=False))
@click.option("--golden", type=click.Path(exists=True, file_okay=False), default=None,
              help="BTSbot's example inputs (usage_triplets.npy, usage_candidates.csv); default: "
                   "$BTSBOT_FAST_SHARED/data/golden, ../shared/data/golden or tests/data/golden")
@click.option("--reference", type=click.Path(exists=True, file_okay=False), default=None,
              help="real reference alerts' inputs (dev_reference_{triplets,features}.npz, dev_reference_scores.csv); "
                   "default: data/ztf/reference under the same places")
@click.option("--tolerance", type=float, default=None, help="max |score difference| allowed (default 1e-6)")
@_friendly
def verify_cmd(name: str, tarball: str, golden: str | None, reference: str | None, tolerance: float | None) -> None:
    """Check that the shipped ONNX of NAME is the official model: convert TARBALL (the official weights)
    again and compare both with TensorFlow on the golden and real reference inputs. Needs [tf]."""
    from . import verify

    report = verify(name, tarball, golden=golden, reference=reference, tolerance=tolerance)
    for line in report.lines():
        click.echo(line)
    if not report.ok:
        raise click.ClickException(f"the shipped {report.name} does not match a fresh conversion of {tarball}")


@models.command("quantize")
@click.argument("name")
@click.option("--calibration", "calibration", multiple=True, type=click.Path(exists=True),
              help="real alerts (files, directories, .tar nights, Parquet) whose activation ranges, under the 8 "
                   "dihedral transforms and the stress perturbations, set the int8 scales (repeatable)")
@click.option("--validation", "--holdout", "validation", multiple=True, type=click.Path(exists=True),
              help="other real alerts, held apart, on which the int8-vs-fp32 error and the margin are measured, "
                   "under the same transforms and perturbations (repeatable; alerts also in --calibration are "
                   "left out)")
@click.option("--check", "check", multiple=True, type=click.Path(exists=True),
              help="derive nothing: re-measure NAME's int8 model on these alerts (under the 8 transforms) and "
                   "fail when its largest error exceeds half its margin (repeatable)")
@click.option("--layers", default=",".join(DEFAULT_LAYERS), show_default=True,
              help="the Keras layers computed in int8 (comma-separated; a convolution's ReLU goes with it); "
                   "all others stay fp32")
@click.option("--safety-factor", type=click.FloatRange(min=2.0), default=2.0, show_default=True,
              help="margin = this times the largest int8-vs-fp32 difference on the validation set")
@click.option("--max-margin", type=click.FloatRange(0.0, 1.0, min_open=True), default=0.3, show_default=True,
              help="refuse an int8 model whose margin would be wider than this")
@click.option("--stress/--no-stress", default=None,
              help="also validate (or check) on the stress perturbations: noise, saturated, masked, CCD-edge "
                   "and overflowed-template inputs [default: on when deriving, off for --check]")
@click.option("-o", "--output", "output_dir", type=click.Path(file_okay=False), default=None,
              help="model directory to write (default: the model's own when imported, else <cache>/NAME)")
@click.option("--speed/--no-speed", default=True, show_default=True,
              help="measure model-only int8 and fp32 speed on the validation alerts for the card (~10 s)")
@_home_option
@_friendly
def quantize_cmd(name: str, calibration, validation, check, layers: str, safety_factor: float, max_margin: float,
                 stress: bool | None, output_dir: str | None, speed: bool, home: str | None) -> None:
    """Derive NAME's int8 screening model for --precision fast: static int8 quantization calibrated on real
    alerts and their transforms, its error measured on a separate validation set, margin = safety factor x
    the largest validation error, all recorded in the model card (docs: Fast mode). With --check, re-measure
    NAME's int8 model on your own alerts instead. Needs onnx (the [quantize] extra) to derive."""
    from .quantize import check_model, quantize_model

    if check:
        if calibration or validation:
            raise click.UsageError("--check measures a model already derived: give it without "
                                   "--calibration/--validation")
        res = check_model(name, check, home=home, stress=bool(stress))
        _echo_errors(res["error_vs_fp32"])
        verdict = "keeps" if res["ok"] else "BREAKS"
        click.echo(f"{res['model']}: largest |int8 - fp32| {res['largest_error']:.4g} on {res['n_alerts']:,} alerts; "
                   f"margin {res['margin']:g}: {verdict} the rule (largest error <= margin / 2)")
        if not res["ok"]:
            raise click.ClickException(f"the int8 model of {res['model']} is not safe on these alerts with margin "
                                       f"{res['margin']:g}: score them with --precision exact, or derive the int8 "
                                       "model again including alerts like these (btsbot-fast models quantize)")
        return
    if not calibration or not validation:
        raise click.UsageError("deriving an int8 model needs --calibration and --validation alerts (or --check)")
    m = quantize_model(name, calibration, validation, output_dir=output_dir, home=home, safety_factor=safety_factor,
                       layers=[s.strip() for s in layers.split(",") if s.strip()], measure_speed=speed,
                       max_margin=max_margin, stress=True if stress is None else stress)
    q = m.card["int8"]
    click.echo(f"int8 model of {m.name} -> {m.int8.onnx_path} (sha256 {q['onnx_sha256'][:16]}..., "
               f"{q['onnx_size']:,} bytes)")
    click.echo(f"calibration: {q['calibration']['n_alerts']:,} alerts, {q['calibration']['n_inputs']:,} inputs; "
               f"validation: {q['validation']['n_alerts']:,} other alerts, {q['validation']['n_inputs']:,} inputs")
    _echo_errors(q["error_vs_fp32"])
    click.echo(f"margin {q['margin']:g} (= {q['safety_factor']:g} x the largest validation error "
               f"{q['largest_error_seen']:.4g}, which is <= margin / 2)")
    speed = q.get("speed_model_only")
    if speed:
        click.echo(f"model-only: int8 {speed['int8_alerts_per_s']:,.0f} alerts/s, "
                   f"fp32 {speed['fp32_alerts_per_s']:,.0f} alerts/s ({speed['int8_vs_fp32']:.2f}x) "
                   f"on {speed['cpu']['model']}")


def _echo_errors(errors: dict) -> None:
    """|int8 - fp32| per validation part and over all of them: max, p99.9, p99."""
    for label, e in [*errors["sets"].items(), ("all", errors["all"])]:
        click.echo(f"  {label:<20} {e['n_inputs']:>7,} inputs  |int8 - fp32| max {e['max']:.4f}  "
                   f"p99.9 {e['p99.9']:.4f}  p99 {e['p99']:.4f}")
