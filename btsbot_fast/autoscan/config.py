"""Autoscan configuration: what to decide (policy), where the state lives, what to do in SkyPortal.

The same :class:`AutoscanConfig` comes from the ``autoscan`` command's options or from a TOML file
(``btsbot-fast stream ... --autoscan CONFIG.toml``)::

    policy = "bts_p1"
    candidates = "bts"                   # decide on BTS candidates (default), or "all" sources
    state = "autoscan.sqlite"            # or "postgresql://user@host/db" for several workers
    decisions = "decisions.jsonl"        # optional: one JSON line per decision (appended)

    [skyportal]                          # optional: without it, decisions only
    url = "https://fritz.science"
    group_ids = [41]
    ignore_if_in_group_ids = { 41 = [1, 2] }   # optional
    token_file = "~/.config/skyportal-token"  # optional; default: $SKYPORTAL_TOKEN
    timeout = 10.0                       # seconds per HTTP request
    max_attempts = 4                     # per action, on 5xx / timeouts / connection errors
    backoff = 1.0                        # first retry delay, doubled each time (capped at 60 s)
    filter_id = 1234                     # optional: post each decided source as a candidate of this filter first
    comments = true                      # comment on each save and on each follow-up request SkyPortal took
    annotations = true                   # one annotation per source with its BTSbot scores
    update_annotations = false           # PUT the annotation anew when later alerts change the scores
    followup_grace = 900                 # seconds a follow-up POST whose answer was lost is waited for

    [followup]                           # optional: needs [skyportal] (saving comes first)
    allocation_id = 7
    target_group_ids = [41]              # default: skyportal.group_ids
    payload = { observation_type = "IFU", priority = 3 }
    validity_days = 7                    # start_date = now, end_date = now + validity_days
    # optional constraints, sent as they are for SkyPortal to check before it submits (FOLLOWUP_CONSTRAINTS)
    not_if_classified = true
    not_if_spectra_exist = true
    not_if_tns_classified = true
    not_if_duplicates = true
    source_group_ids = [41]              # only if the source is saved to all of these
    ignore_source_group_ids = [1]        # not if it is saved to any of these
    not_if_tns_reported = 48             # hours
    # radius = 0.5 (arcsec, for the spatial checks); ignore_allocation_ids = [..] (with not_if_duplicates)

The token is never read from this file: a ``token`` key anywhere is an error. A password in ``state``
(``postgresql://user:password@host/db``) is accepted only from a file its owner alone can read
(``chmod 600``), as the token file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from ..config_files import TOKEN_ENV, ConfigError, check_keys, load_toml, reject_secrets
from ..policies import CANDIDATE_MODES, Policy
from ..secrets import SecretError, require_https, require_private_file, url_has_password
from .state import is_postgres_location

ORIGIN = "btsbot-fast"
DEFAULT_PAYLOAD = {"observation_type": "IFU", "priority": 3}
#: follow-up constraints SkyPortal's ``POST /api/followup_request`` reads from the request body, and their
#: kinds: each passes through from ``[followup]`` unchanged
FOLLOWUP_CONSTRAINTS = {"not_if_classified": bool, "not_if_spectra_exist": bool, "not_if_tns_classified": bool,
                        "not_if_duplicates": bool, "source_group_ids": "ids", "ignore_source_group_ids": "ids",
                        "not_if_tns_reported": "number", "radius": "number", "ignore_allocation_ids": "ids"}


@dataclass(frozen=True)
class SkyPortalConfig:
    url: str
    group_ids: tuple[int, ...]
    ignore_if_in_group_ids: Mapping[str, tuple[int, ...]] | None = None
    token_file: Path | None = None
    origin: str = ORIGIN
    timeout: float = 10.0
    max_attempts: int = 4
    backoff: float = 1.0
    #: post each decided source as a candidate of this SkyPortal filter before saving it (as Kowalski does)
    filter_id: int | None = None
    #: the trail: a comment on each save and on each follow-up request made, and one annotation per source
    comments: bool = True
    annotations: bool = True
    #: PUT the source's annotation anew when later alerts change its scores
    update_annotations: bool = False
    #: seconds a follow-up POST whose answer was lost (timeout, connection reset) is waited for to appear in
    #: SkyPortal before a new one may go out (a slow SkyPortal stores requests after the client gave up)
    followup_grace: float = 900.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", checked_url(self.url))
        if not self.group_ids:
            raise ConfigError("skyportal.group_ids: saving needs at least one group id")
        if self.timeout <= 0 or self.max_attempts < 1 or self.backoff < 0 or self.followup_grace < 0:
            raise ConfigError("skyportal: timeout must be > 0, max_attempts >= 1, backoff >= 0 and "
                              "followup_grace >= 0")

    def token(self) -> str:
        """The API token: from ``token_file`` when set, else ``$SKYPORTAL_TOKEN``. Never logged."""
        return read_token(self.token_file)


def checked_url(url: str) -> str:
    """A SkyPortal base URL in its one form (no trailing slash), or :class:`ConfigError`: every client is
    built from a URL that passed here (the options, the TOML, ``--send-pending``). ``http://`` only to a
    loopback host: the token would travel in clear text."""
    url = url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"skyportal.url must start with http:// or https://, got {url!r}")
    try:
        require_https(url, "skyportal.url")
    except SecretError as exc:
        raise ConfigError(str(exc)) from None
    return url


def read_token(token_file: Path | None) -> str:
    """The SkyPortal API token: from ``token_file`` when given (readable by its owner alone), else
    ``$SKYPORTAL_TOKEN``. Never logged."""
    if token_file is not None:
        try:
            require_private_file(token_file, "the SkyPortal token file")
        except SecretError as exc:
            raise ConfigError(str(exc)) from None
        try:
            value = Path(token_file).expanduser().read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the SkyPortal token file {token_file}: {exc.strerror}") from None
        if not value:
            raise ConfigError(f"the SkyPortal token file {token_file} is empty")
        return value
    value = os.environ.get(TOKEN_ENV, "").strip()
    if not value:
        raise ConfigError(f"no SkyPortal token: set ${TOKEN_ENV} or give a token file")
    return value


@dataclass(frozen=True)
class FollowupConfig:
    allocation_id: int
    target_group_ids: tuple[int, ...] | None = None  # None: the save groups (set by AutoscanConfig)
    payload: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_PAYLOAD))
    validity_days: float = 7.0
    #: SkyPortal's follow-up constraints (:data:`FOLLOWUP_CONSTRAINTS`), added to each request as they are
    constraints: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.payload, Mapping):
            raise ConfigError("followup.payload must be a table / JSON object")
        object.__setattr__(self, "constraints", parse_constraints(self.constraints))
        if self.validity_days <= 0:
            raise ConfigError("followup.validity_days must be > 0")


@dataclass(frozen=True)
class AutoscanConfig:
    policy: str
    state: str
    skyportal: SkyPortalConfig | None = None
    followup: FollowupConfig | None = None
    decisions: Path | None = None
    #: ``bts``: decide on BTS candidates only (rows need ``bts_candidate``); ``all``: on every source
    candidates: str = "bts"

    def __post_init__(self) -> None:
        try:
            Policy.parse(self.policy)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if self.candidates not in CANDIDATE_MODES:
            raise ConfigError(f"candidates must be one of {', '.join(CANDIDATE_MODES)}, got {self.candidates!r}")
        if not str(self.state):
            raise ConfigError("state: give a SQLite file or a postgresql:// URL")
        if self.followup is not None and self.skyportal is None:
            raise ConfigError("follow-up requests need SkyPortal settings (url, group ids): saving comes first")
        if self.followup is not None and self.followup.target_group_ids is None:
            object.__setattr__(self, "followup", replace(self.followup, target_group_ids=self.skyportal.group_ids))

    @property
    def parsed_policy(self) -> Policy:
        return Policy.parse(self.policy)


def _from_json(value: Any, what: str) -> Any:
    """A command-line option's JSON text decoded (a TOML value is already decoded)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{what} is not valid JSON: {exc}") from None


def parse_ignore_groups(value: Any) -> dict[str, tuple[int, ...]] | None:
    """``{group_id: [group ids]}`` from a TOML table or a JSON object string; keys kept as strings (JSON)."""
    if value is None:
        return None
    value = _from_json(value, "ignore_if_in_group_ids")
    if not isinstance(value, Mapping):
        raise ConfigError("ignore_if_in_group_ids must map a group id to a list of group ids")
    try:
        return {str(int(k)): tuple(int(g) for g in v) for k, v in value.items()}
    except (TypeError, ValueError):
        raise ConfigError("ignore_if_in_group_ids must map a group id to a list of group ids") from None


def parse_payload(value: Any) -> dict[str, Any]:
    """A follow-up payload from a TOML table or a JSON object string."""
    value = _from_json(value, "the follow-up payload")
    if not isinstance(value, Mapping):
        raise ConfigError("the follow-up payload must be a JSON object / TOML table")
    return dict(value)


def parse_constraints(values: Mapping[str, Any]) -> dict[str, Any]:
    """Follow-up constraints checked against :data:`FOLLOWUP_CONSTRAINTS` (a JSON string is decoded)."""
    values = _from_json(values, "the follow-up constraints")
    if not isinstance(values, Mapping):
        raise ConfigError("the follow-up constraints must be a JSON object / TOML keys")
    out: dict[str, Any] = {}
    for key, value in values.items():
        kind = FOLLOWUP_CONSTRAINTS.get(key)
        if kind is None:
            raise ConfigError(f"unknown follow-up constraint {key!r} (known: {', '.join(FOLLOWUP_CONSTRAINTS)})")
        if kind is bool:
            ok = isinstance(value, bool)
        elif kind == "ids":
            ok = isinstance(value, (list, tuple)) and all(isinstance(g, int) and not isinstance(g, bool)
                                                          for g in value)
            value = list(value) if ok else value
        else:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
        if not ok:
            want = {bool: "true or false", "ids": "a list of integer ids", "number": "a number >= 0"}[kind]
            raise ConfigError(f"follow-up constraint {key} must be {want}, got {value!r}")
        out[key] = value
    return out


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"expected true or false, got {value!r}")
    return value


def _ints(values: Any) -> tuple[int, ...]:
    return tuple(int(g) for g in values)


def _given(table: Mapping[str, Any], convert: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of ``convert`` present in the table, converted."""
    return {k: f(table[k]) for k, f in convert.items() if k in table}


def load_config(path: str | os.PathLike[str]) -> AutoscanConfig:
    """An :class:`AutoscanConfig` from a TOML file (see the module docstring); relative paths in it are
    relative to the file's folder."""
    path = Path(path)
    data = load_toml(path)
    reject_secrets(data, "")
    check_keys(data, {"policy", "candidates", "state", "decisions", "skyportal", "followup"}, str(path))
    base = path.parent

    def rel(value: Any) -> Path:
        p = Path(str(value)).expanduser()
        return p if p.is_absolute() else base / p

    if "policy" not in data or "state" not in data:
        raise ConfigError(f"{path}: needs 'policy' and 'state'")
    state = str(data["state"])
    if url_has_password(state):  # allowed here (never on a command line), in a file only its owner reads
        try:
            require_private_file(path, "the autoscan config file")
        except SecretError as exc:
            raise ConfigError(f"{exc} (its state URL holds a password)") from None
    if not is_postgres_location(state):
        state = str(rel(state))
    # optional keys and their conversions: an absent key takes the dataclass's default
    sp_optional = {"ignore_if_in_group_ids": parse_ignore_groups, "token_file": rel, "origin": str,
                   "timeout": float, "max_attempts": int, "backoff": float, "filter_id": int, "comments": _flag,
                   "annotations": _flag, "update_annotations": _flag, "followup_grace": float}
    fu_optional = {"target_group_ids": _ints, "payload": parse_payload, "validity_days": float}
    try:
        skyportal = None
        if "skyportal" in data:
            sp = data["skyportal"]
            check_keys(sp, {"url", "group_ids", *sp_optional}, f"{path} [skyportal]")
            # url and group ids are required: missing, they fail the dataclass's checks by name
            skyportal = SkyPortalConfig(url=str(sp.get("url", "")), group_ids=_ints(sp.get("group_ids", ())),
                                        **_given(sp, sp_optional))
        followup = None
        if "followup" in data:
            fu = data["followup"]
            check_keys(fu, {"allocation_id", *fu_optional, *FOLLOWUP_CONSTRAINTS}, f"{path} [followup]")
            if "allocation_id" not in fu:
                raise ConfigError(f"{path} [followup]: needs allocation_id")
            followup = FollowupConfig(allocation_id=int(fu["allocation_id"]), **_given(fu, fu_optional),
                                      constraints={k: v for k, v in fu.items() if k in FOLLOWUP_CONSTRAINTS})
        return AutoscanConfig(policy=str(data["policy"]), state=state, skyportal=skyportal, followup=followup,
                              decisions=rel(data["decisions"]) if "decisions" in data else None,
                              **_given(data, {"candidates": str}))
    except (TypeError, ValueError) as exc:  # ConfigError too: name the file
        raise ConfigError(f"{path}: {exc}") from None


__all__ = ["FOLLOWUP_CONSTRAINTS", "AutoscanConfig", "ConfigError", "FollowupConfig", "SkyPortalConfig", "TOKEN_ENV",
           "load_config", "parse_constraints"]
