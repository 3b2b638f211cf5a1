"""``btsbot-fast models ...``: import, list, path, pull, verify."""

from __future__ import annotations

import functools

import click

from . import cache, entries
from .errors import ModelCardError, ModelImportError, ModelNotFoundError


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
