"""The monitor's settings: ``monitor --config monitor.toml`` (options given on the command line win)::

    truth = ["bts_sample.csv"]       # truth tables (relative to this file); --truth adds more
    bright_mag = 18.5                # BTS's peak-magnitude cut for completeness
    purity_threshold = 0.85          # drawn on the weekly figure (the alert rule has its own copy)

    [skyportal]                      # optional: truth from SkyPortal (Fritz)
    url = "https://fritz.science"
    scanner_group_id = 41            # the scanners' group: its saved_at is "when the scanners saved it"
    token_file = "~/.config/skyportal-token"   # default: $SKYPORTAL_TOKEN (never in this file)
    timeout = 10.0                   # seconds per request
    concurrency = 4                  # requests at once
    rate = 10.0                      # requests per second at most
    max_attempts = 3                 # per source, on 5xx / timeouts / connection errors
    refresh_hours = 12               # re-ask a cached, still unclassified or unsaved source after this
    cache = "skyportal_cache.sqlite" # the answers cache (default: DIR/skyportal_cache.sqlite); the night
                                     # page (report --monitor-config) reads it, asking nothing

    [classes]                        # rules in front of the defaults (btsbot_fast.monitor.classes)
    "Other" = true
    "SN Ia-CSM" = false
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..autoscan.config import checked_url
from ..config_files import ConfigError, check_keys, load_toml, reject_secrets
from .classes import ClassTable, parse_overrides
from .measure import BRIGHT_MAG
from .skyportal import REFRESH_SECONDS


@dataclass(frozen=True)
class MonitorSkyPortal:
    url: str
    scanner_group_id: int | None = None
    token_file: Path | None = None
    timeout: float = 10.0
    concurrency: int = 4
    rate: float = 10.0
    max_attempts: int = 3
    refresh: float = REFRESH_SECONDS
    cache: Path | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", checked_url(self.url))
        if self.timeout <= 0 or self.concurrency < 1 or self.rate <= 0 or self.max_attempts < 1 or self.refresh < 0:
            raise ConfigError("skyportal: timeout and rate must be > 0, concurrency and max_attempts >= 1, "
                              "refresh_hours >= 0")


@dataclass(frozen=True)
class MonitorConfig:
    truth: tuple[Path, ...] = ()
    bright_mag: float = BRIGHT_MAG
    purity_threshold: float | None = 0.85
    skyportal: MonitorSkyPortal | None = None
    classes: ClassTable = field(default_factory=ClassTable)


def load_monitor_config(path: str | os.PathLike[str]) -> MonitorConfig:
    path = Path(path)
    data = load_toml(path)
    reject_secrets(data, "")
    check_keys(data, {"truth", "bright_mag", "purity_threshold", "skyportal", "classes"}, str(path))

    def rel(value: Any) -> Path:
        p = Path(str(value)).expanduser()
        return p if p.is_absolute() else path.parent / p

    try:
        truth = data.get("truth", [])
        if isinstance(truth, str):
            truth = [truth]
        sp = None
        if "skyportal" in data:
            t = data["skyportal"]
            check_keys(t, {"url", "scanner_group_id", "token_file", "timeout", "concurrency", "rate", "max_attempts",
                            "refresh_hours", "cache"}, f"{path} [skyportal]")
            conv = {"scanner_group_id": int, "token_file": rel, "timeout": float, "concurrency": int, "rate": float,
                    "max_attempts": int, "cache": rel}
            given = {k: f(t[k]) for k, f in conv.items() if k in t}
            if "refresh_hours" in t:
                given["refresh"] = float(t["refresh_hours"]) * 3600.0
            sp = MonitorSkyPortal(url=str(t.get("url", "")), **given)
        threshold = data.get("purity_threshold", MonitorConfig.purity_threshold)
        return MonitorConfig(truth=tuple(rel(p) for p in truth), bright_mag=float(data.get("bright_mag", BRIGHT_MAG)),
                             purity_threshold=None if threshold is None else float(threshold), skyportal=sp,
                             classes=ClassTable.with_overrides(parse_overrides(data.get("classes", {}), str(path))))
    except (TypeError, ValueError) as exc:  # ConfigError too: name the file
        raise ConfigError(f"{path}: {exc}") from None


__all__ = ["MonitorConfig", "MonitorSkyPortal", "load_monitor_config"]
