"""Metrics kernel: pose errors (metres), the one metric table (units, decimals, headers), action-wise
tables, and their gathering over DDP ranks."""

from poseact.metrics.actionwise import (
    ACTION_WISE_ROW,
    FRAME_WISE_ROW,
    ActionwiseAccumulator,
    SequenceResult,
)
from poseact.metrics.pose import (
    METRIC_NAMES,
    mean_velocity_error,
    mpjpe,
    n_mpjpe,
    p_mpjpe,
    procrustes_align,
    sequence_metrics,
    weighted_mpjpe,
)
from poseact.metrics.table import METRICS, Metric, format_metric, metric_of, unit_of, with_unit

__all__ = [
    "METRICS", "Metric", "format_metric", "metric_of", "unit_of", "with_unit",
    "ACTION_WISE_ROW", "FRAME_WISE_ROW", "METRIC_NAMES", "ActionwiseAccumulator", "SequenceResult",
    "mean_velocity_error", "mpjpe", "n_mpjpe", "p_mpjpe", "procrustes_align", "sequence_metrics",
    "weighted_mpjpe",
]
