"""Monitoring autoscan's decisions as the BTSbot team does: purity, completeness and speed against the
scanners, per policy, night by night (``btsbot-fast monitor``).

The state is read only (:mod:`.snapshot`); the truth comes from truth tables (:mod:`.truth`) and SkyPortal
(:mod:`.skyportal`, answers cached in a file of the monitor's own); :mod:`.measure` holds the definitions;
:mod:`.figures`, :mod:`.prom` and :mod:`.section` present them (PNGs, node_exporter's textfile, the night
page's section).
"""

from .classes import DEFAULT_CLASSES, ClassTable
from .config import MonitorConfig, MonitorSkyPortal, load_monitor_config
from .measure import BRIGHT_MAG, Window
from .run import MonitorRun, measure_state, write_outputs
from .truth import Truth, TruthError, read_truth

__all__ = ["BRIGHT_MAG", "DEFAULT_CLASSES", "ClassTable", "MonitorConfig", "MonitorRun", "MonitorSkyPortal", "Truth",
           "TruthError", "Window", "load_monitor_config", "measure_state", "read_truth", "write_outputs"]
