"""Evaluation as in the BTSbot papers: alert-level metrics, source-level policies, figures."""

from ..policies import DEFAULT_POLICIES, Policy
from .metrics import alert_metrics, confusion, roc_auc, roc_curve
from .sources import PEAKMAG_EDGES, evaluate_sources, threshold_scan

__all__ = ["DEFAULT_POLICIES", "PEAKMAG_EDGES", "Policy", "alert_metrics", "confusion", "evaluate",
           "evaluate_sources", "roc_auc", "roc_curve", "threshold_scan"]


def evaluate(*args, **kwargs):
    """See :func:`btsbot_fast.evaluate.run.evaluate` (imported lazily: it pulls in matplotlib)."""
    from .run import evaluate as _evaluate

    return _evaluate(*args, **kwargs)
