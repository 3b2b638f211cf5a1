"""What BTSbot saw: one alert's figure (``btsbot-fast show``) and a night's offline page (``report``).

    alert.py     an alert's data as the model and a scanner see it, and the occlusion saliency (no plotting)
    figure.py    the ``show`` figure and the triplet thumbnail (matplotlib + astropy: the [report] extra)
    pictures.py  pictures written once per alert into a shared folder, drawn in worker processes
    page.py      the night page: sources, summary, HTML (page.css and page.js are inlined)
    report.py    show_alert and night_report, the functions behind the two commands
    commands.py  the click commands
"""

from __future__ import annotations

from .alert import AlertNotFound, AlertView, Occlusion, inspect_records, occlusion
from .report import night_report, show_alert

__all__ = ["AlertNotFound", "AlertView", "Occlusion", "inspect_records", "night_report", "occlusion", "show_alert"]
