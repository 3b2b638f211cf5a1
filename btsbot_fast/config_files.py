"""What every TOML settings file of the package shares: reading it, refusing secrets in it, refusing
unknown keys. ``autoscan`` (``--autoscan CONFIG.toml``) and ``monitor`` (``--config monitor.toml``)
both read their files through these, so a file error reads the same in both.

Each check raises :class:`ConfigError` saying which key and why (``btsbot_fast.autoscan.config``
re-exports it under the same name).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Mapping

from .messages import install_hint

#: the environment variable a SkyPortal token is read from when no token file is given
TOKEN_ENV = "SKYPORTAL_TOKEN"


class ConfigError(ValueError):
    """A configuration that cannot be used (the message says which key and why)."""


def load_toml(path: Path) -> dict[str, Any]:
    """The TOML file's top-level table, or :class:`ConfigError` (unreadable, not TOML)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib
        except ImportError as exc:
            raise ConfigError("reading TOML on Python 3.10 needs tomli: " + install_hint("autoscan")) from exc
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def reject_secrets(table: Mapping[str, Any], where: str) -> None:
    """Refuse a ``token``, ``api_token`` or ``password`` key at any depth (``where``: the key prefix)."""
    for key, value in table.items():
        if key.lower() in ("token", "api_token", "password"):
            raise ConfigError(f"{where}{key}: secrets never go in the config file; set ${TOKEN_ENV} or "
                              "skyportal.token_file")
        if isinstance(value, Mapping):
            reject_secrets(value, f"{where}{key}.")


def check_keys(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    """Refuse keys of ``table`` outside ``allowed`` (``where``: the file and table, for the message)."""
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(allowed))})")


__all__ = ["TOKEN_ENV", "ConfigError", "check_keys", "load_toml", "reject_secrets"]
