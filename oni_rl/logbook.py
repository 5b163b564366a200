"""What a training run writes down: finished episodes (CSV), TensorBoard scalars, the learning-curve PNG.

Episodes are read from the collected data at ``done`` steps, using the per-step statistics
that :class:`oni_rl.episode_stats.EpisodeStats` puts in ``info``. The CSV is the source of truth: the PNG
and ``benchmarks/learning_evidence.py``'s tables are drawn from it, and a resumed run appends to it.
"""

from __future__ import annotations

import csv
import gzip
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from tensordict import TensorDictBase


@dataclass
class Episode:
    frames: int  # training frames when the episode ended
    length: int
    training_return: float  # what the agent maximised: coefficients and intrinsic reward included
    extrinsic_return: float  # the task's own reward
    intrinsic_return: float  # the ONI part of training_return
    score: float  # in-game score at the end
    success: float  # 1 if the task was won (Staircase*, Oracle)
    # what the agent did (0 in files written before they were counted)
    kills: float = 0.0  # steps whose message says the hero killed something
    gold: float = 0.0  # most gold carried
    depth: float = 0.0  # deepest dungeon level reached
    menu_steps: float = 0.0  # steps spent answering the game (yes/no, a typed line, --More--)


def finished_episodes(data: TensorDictBase, frames: int) -> list[Episode]:
    """Every episode that ended inside ``data`` (any batch shape)."""
    done = data["next", "done"].squeeze(-1)
    if not bool(done.any()):
        return []
    ended = data["next"][done]
    columns = {name: ended[name].reshape(-1).tolist()
               for name in ("score", "success", "kills", "gold", "depth", "menu_steps")}
    return [
        Episode(
            frames=frames, length=int(length), training_return=float(training), extrinsic_return=float(ext),
            intrinsic_return=float(intr), **{name: float(values[i]) for name, values in columns.items()},
        )
        for i, (length, training, ext, intr) in enumerate(zip(
            ended["step_count"].squeeze(-1).tolist(), ended["episode_reward"].squeeze(-1).tolist(),
            ended["episode_extrinsic"].tolist(), ended["episode_intrinsic"].tolist(), strict=True,
        ))
    ]


class Logbook:
    """Appends episodes to ``episodes.csv`` and scalars to TensorBoard under one run folder."""

    def __init__(self, run_dir: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        run_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir = run_dir
        self.csv_path = run_dir / "episodes.csv"
        self.episodes: list[Episode] = read_episodes(self.csv_path) if self.csv_path.exists() else []
        if self.episodes and self._header() != [f.name for f in fields(Episode)]:
            self._write_csv(self.episodes, mode="w")  # a file from before new columns: rows appended must match
        self._writer = SummaryWriter(str(run_dir / "tensorboard"))

    def _header(self) -> list[str]:
        with self.csv_path.open(newline="") as handle:
            return next(csv.reader(handle), [])

    def truncate(self, frames: int) -> int:
        """Forget episodes that ended after ``frames`` (a resumed run collects those frames again:
        a crash after the last checkpoint would otherwise leave them twice). Returns how many."""
        kept = [e for e in self.episodes if e.frames <= frames]
        dropped = len(self.episodes) - len(kept)
        if dropped:
            self._write_csv(kept, mode="w")
            self.episodes = kept
        return dropped

    def note_resume(self, frames: int) -> None:
        """Append the frames a run resumed at to ``resumes.csv``: what lived only in memory
        (the envs' state, the wrappers' cross-episode counts) started again there."""
        path = self.run_dir / "resumes.csv"
        with path.open("a") as handle:
            if handle.tell() == 0:
                handle.write("frames\n")
            handle.write(f"{frames}\n")

    def add_episodes(self, episodes: list[Episode]) -> None:
        if not episodes:
            return
        self._write_csv(episodes, mode="a")
        self.episodes.extend(episodes)
        frames = episodes[-1].frames
        for name in ("extrinsic_return", "intrinsic_return", "training_return", "score", "success", "length",
                     "kills", "gold", "depth", "menu_steps"):
            values = [getattr(e, name) for e in episodes]
            self._writer.add_scalar(f"episode/{name}", float(np.mean(values)), frames)

    def _write_csv(self, episodes: list[Episode], mode: str) -> None:
        """Write (``"w"``) or append (``"a"``) episodes; a new file starts with its header."""
        header = mode == "w" or not self.csv_path.exists()
        with self.csv_path.open(mode, newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=[f.name for f in fields(Episode)])
            if header:
                writer.writeheader()
            writer.writerows(asdict(e) for e in episodes)

    def add_scalars(self, scalars: dict[str, float], frames: int) -> None:
        for name, value in scalars.items():
            self._writer.add_scalar(name, value, frames)

    def recent(self, name: str, window: int = 100) -> float | None:
        if not self.episodes:
            return None
        return float(np.mean([getattr(e, name) for e in self.episodes[-window:]]))

    def close(self) -> None:
        self._writer.close()


def read_episodes(path: Path) -> list[Episode]:
    """Episodes of an ``episodes.csv`` (or ``episodes.csv.gz``); columns added since a file was
    written take their defaults."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as handle:
        return [
            Episode(**{f.name: (int if f.type in (int, "int") else float)(row[f.name])
                       for f in fields(Episode) if row.get(f.name) not in (None, "")})
            for row in csv.DictReader(handle)
        ]


def smoothed(frames: list[int], values: list[float], points: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``values`` in equal frame bins (episodes end at irregular frames)."""
    if not frames:
        return np.array([]), np.array([])
    x, y = np.asarray(frames, dtype=float), np.asarray(values, dtype=float)
    edges = np.linspace(0, x.max(), min(points, len(x)) + 1)
    index = np.clip(np.digitize(x, edges[1:-1]), 0, len(edges) - 2)
    centres, means = [], []
    for b in range(len(edges) - 1):
        mask = index == b
        if mask.any():
            centres.append(edges[b + 1])
            means.append(y[mask].mean())
    return np.asarray(centres), np.asarray(means)


def plot_runs(runs: dict[str, list[list[Episode]]], path: Path, title: str) -> Path:
    """One panel per statistic; each label's seeds are averaged per frame bin, the band is min–max."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import EngFormatter

    panels = [("score", "in-game score"), ("extrinsic_return", "task return"),
              ("intrinsic_return", "intrinsic return"), ("success", "success rate")]
    figure, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4))
    for axis, (name, label) in zip(axes, panels, strict=True):
        for run_label, seeds in runs.items():
            curves = [smoothed([e.frames for e in eps], [getattr(e, name) for e in eps], 30) for eps in seeds if eps]
            if not curves:
                continue
            curves = [c for c in curves if len(c[0])]
            grid = np.linspace(min(c[0].min() for c in curves), max(c[0].max() for c in curves), 30)
            stacked = np.stack([np.interp(grid, c[0], c[1]) for c in curves])
            (line,) = axis.plot(grid, stacked.mean(0), label=f"{run_label} ({len(stacked)} seed{'s' * (len(stacked) > 1)})")
            if len(stacked) > 1:
                axis.fill_between(grid, stacked.min(0), stacked.max(0), color=line.get_color(), alpha=0.2)
        axis.set_title(label)
        axis.set_xlabel("frames")
        axis.xaxis.set_major_formatter(EngFormatter(sep=""))
    axes[0].legend(fontsize=8)
    figure.suptitle(title)
    return save_figure(figure, path)


def save_figure(figure: Any, path: Path) -> Path:
    """Lay out, write (creating the folder) and close a matplotlib figure."""
    import matplotlib.pyplot as plt

    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def tensor_stats(data: TensorDictBase) -> dict[str, float]:
    """Per-batch figures: reward-table version seen by the envs and the mean training reward."""
    return {
        "collect/table_version": float(data["next", "table_version"].max()),
        "collect/reward_mean": float(data["next", "reward"].mean()),
        "collect/nonzero_reward_share": float((data["next", "reward"] != 0).float().mean()),
    }


__all__ = ["Episode", "Logbook", "finished_episodes", "plot_runs", "read_episodes", "save_figure", "tensor_stats"]
