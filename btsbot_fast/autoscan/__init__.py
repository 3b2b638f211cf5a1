"""Autoscan: per-source decisions from BTSbot scores, and the SkyPortal actions they trigger, exactly once.

Data flows one way: result rows (``Scorer`` or ``score`` tables) -> the state (alert history) -> policy
(:mod:`btsbot_fast.policies`) -> decisions -> actions (candidate, save, comments, annotation, follow-up) ->
outcomes.

* :mod:`.config`     - :class:`AutoscanConfig` (command options or TOML; the token never in the file)
* :mod:`.state`      - SQLite (default) / PostgreSQL stores: alerts, decisions, actions, dead letters
* :mod:`.skyportal`  - the SkyPortal API client (requests; token header, never logged)
* :mod:`.actions`    - planning a decision's actions and sending one with bounded retries
* :mod:`.runner`     - :class:`Autoscan`: ``process(rows)``, the hook the live stream calls
* :mod:`.inputs`     - alert inputs through the Scorer, score tables as they are
* :mod:`.report`     - the nightly summary and figure
* :mod:`.commands`   - the ``btsbot-fast autoscan`` command
"""

from .config import AutoscanConfig, ConfigError, FollowupConfig, SkyPortalConfig, load_config
from .runner import Autoscan, Decision
from .state import StateError

__all__ = ["Autoscan", "AutoscanConfig", "ConfigError", "Decision", "FollowupConfig", "SkyPortalConfig",
           "StateError", "load_config"]
