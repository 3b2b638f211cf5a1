"""Rules that keep credentials out of sight: not on command lines (``ps``, shell history), not in files
other users can read, not over plain HTTP. Each check raises :class:`SecretError` saying what to do."""

from __future__ import annotations

import ipaddress
import os
import re
import stat
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


class SecretError(ValueError):
    """A credential offered where others can see it (the message never repeats the secret)."""


def require_private_file(path: str | os.PathLike[str], what: str) -> None:
    """Refuse a credentials file that its group or other users may read or write."""
    p = Path(path).expanduser()
    try:
        mode = p.stat().st_mode
    except OSError as exc:
        raise SecretError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretError(f"{what} {path} is readable by other users (mode {stat.S_IMODE(mode):o}); "
                          f"make it private: chmod 600 {path}")


def url_has_password(url: str) -> bool:
    """Whether a database URL or libpq key/value DSN carries a password (``user:password@``,
    ``?password=``, ``password=...``)."""
    if "://" not in url:
        return re.search(r"(^|\s)password\s*=", url) is not None
    parts = urlsplit(url)
    return parts.password is not None or "password" in parse_qs(parts.query)


def refuse_password_in_url(url: str, option: str) -> None:
    """A database URL or DSN given on the command line must not hold the password."""
    if url_has_password(url):
        raise SecretError(f"{option}: no passwords on the command line (other users see it in ps); "
                          "drop it from the URL and use PGPASSWORD, ~/.pgpass or the autoscan TOML config")


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_https(url: str, what: str) -> None:
    """Tokens travel over HTTPS only; plain http is for a server on this machine (tests, a local tunnel)."""
    parts = urlsplit(url)
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise SecretError(f"{what} {url} would send the API token in clear text: use https:// "
                          "(http:// only for localhost / 127.0.0.1)")
