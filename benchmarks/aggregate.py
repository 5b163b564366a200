"""Aggregate figures over seeds that hold up with few runs: IQM with bootstrap intervals.

The interquartile mean (the mean of the middle half; with 5 seeds the middle 3) is robust to
one odd seed and less noisy than the median (Agarwal et al., "Deep RL at the edge of the
statistical precipice", NeurIPS 2021). Its 95% interval comes from a percentile bootstrap over
seeds (``scipy.stats.bootstrap``); a difference between two arms resamples each arm on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from oni_rl.logbook import Episode, save_figure

RESAMPLES = 10_000


def iqm(values: np.ndarray, axis: int = -1) -> np.ndarray:
    return stats.trim_mean(values, 0.25, axis=axis)


@dataclass(frozen=True)
class Interval:
    point: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.point:.2f} [{self.low:.2f}, {self.high:.2f}]"


def iqm_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    data = np.asarray(values, dtype=float)
    if len(data) < 2 or np.ptp(data) == 0:
        return Interval(float(iqm(data)), float(iqm(data)), float(iqm(data)))
    result = stats.bootstrap((data,), iqm, n_resamples=RESAMPLES, confidence_level=confidence,
                             method="percentile", random_state=0)
    return Interval(float(iqm(data)), float(result.confidence_interval.low), float(result.confidence_interval.high))


def difference_interval(first: Sequence[float], second: Sequence[float], confidence: float = 0.95) -> Interval:
    """IQM(first) − IQM(second), each arm resampled on its own."""
    a, b = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    if np.ptp(a) == 0 and np.ptp(b) == 0:  # every resample is the same: the interval is the point
        point = float(a[0] - b[0])
        return Interval(point, point, point)

    def statistic(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        return iqm(x, axis) - iqm(y, axis)

    result = stats.bootstrap((a, b), statistic, n_resamples=RESAMPLES, confidence_level=confidence,
                             method="percentile", random_state=0)
    return Interval(float(statistic(a, b)), float(result.confidence_interval.low),
                    float(result.confidence_interval.high))


def binned(episodes: list[Episode], name: str, frames: int, bins: int) -> np.ndarray:
    """Mean of ``name`` over the episodes ending in each of ``bins`` equal frame bins (NaN if none)."""
    edges = np.linspace(0, frames, bins + 1)
    out = np.full(bins, np.nan)
    ends = np.array([e.frames for e in episodes])
    values = np.array([getattr(e, name) for e in episodes], dtype=float)
    for i in range(bins):
        inside = (ends > edges[i]) & (ends <= edges[i + 1])
        if inside.any():
            out[i] = values[inside].mean()
    return out


def plot_iqm_curves(runs: dict[str, list[list[Episode]]], frames: int, path: Path, title: str,
                    names: Sequence[tuple[str, str]] = (("score", "in-game score"), ("extrinsic_return", "task return"),
                                                         ("intrinsic_return", "intrinsic return")),
                    bins: int = 20) -> Path:
    """One panel per statistic: the IQM over seeds per frame bin, with its 95% bootstrap band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import EngFormatter

    centres = (np.arange(bins) + 0.5) * frames / bins
    figure, axes = plt.subplots(1, len(names), figsize=(4.4 * len(names), 3.4))
    for axis, (name, label) in zip(np.atleast_1d(axes), names, strict=True):
        for arm, seeds in runs.items():
            table = np.stack([binned(eps, name, frames, bins) for eps in seeds if eps])
            points, lows, highs = [], [], []
            for column in table.T:
                values = column[~np.isnan(column)]
                interval = iqm_interval(values) if len(values) else Interval(np.nan, np.nan, np.nan)
                points.append(interval.point)
                lows.append(interval.low)
                highs.append(interval.high)
            (line,) = axis.plot(centres, points, label=f"{arm} ({len(table)} seeds)")
            axis.fill_between(centres, lows, highs, color=line.get_color(), alpha=0.2)
        axis.set_title(f"{label} (IQM, 95% CI)")
        axis.set_xlabel("frames")
        axis.xaxis.set_major_formatter(EngFormatter(sep=""))
    np.atleast_1d(axes)[0].legend(fontsize=8)
    figure.suptitle(title)
    return save_figure(figure, path)
