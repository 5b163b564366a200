"""Sample Factory 2 with ONI rewards, for real: the example trains APPO in Sample Factory's own
virtual environment (gymnasium 0.29, numpy < 2, NLE 1.0), the envs wrapped in OniRewardWrapper,
against a real reward server on 127.0.0.1; the intrinsic reward must reach the learner.

The environment is built once into ``$ONI_SF_VENV`` (default ``~/.cache/oni/sf-venv``) and kept;
``pytest -m sample_factory`` runs this (the default suite leaves it out: the first build takes
minutes)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reward_server import ServerConfig
from reward_server.runner import BackgroundServer
from tests.helpers import stats

pytestmark = pytest.mark.sample_factory

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def sf_python() -> Path:
    """Sample Factory's virtual environment with oni's light install (cached between runs)."""
    venv = Path(os.environ.get("ONI_SF_VENV", Path.home() / ".cache" / "oni" / "sf-venv"))
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # editable, so the checkout's code is what runs; installed again only when this checkout or its
    # dependencies change (the install needs the package registries)
    stamp = venv / "oni-install.txt"
    wanted = f"{REPO}\n{hashlib.sha256((REPO / 'pyproject.toml').read_bytes()).hexdigest()}"
    if not stamp.exists() or stamp.read_text() != wanted:
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-e", f"{REPO}[sample-factory]"], check=True,
                       timeout=1800)
        stamp.write_text(wanted)
    return python


def scalars(summary_dir: Path) -> dict[str, list[float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(summary_dir))
    events.Reload()
    return {tag: [e.value for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


@pytest.mark.timeout(2400)
def test_sample_factory_trains_on_oni_rewards_from_a_reward_server(sf_python: Path, tmp_path: Path) -> None:
    """Reward-free Score (extrinsic coefficient 0): every reward Sample Factory's learner sees is ONI's.
    Its own summaries show it: a positive training return, and the intrinsic return per episode."""
    config = ServerConfig(reward_model="novelty", store=tmp_path / "oni.sqlite", port=0)
    with BackgroundServer(config) as server:
        done = subprocess.run(
            [str(sf_python), str(REPO / "examples" / "sample_factory_nethack.py"), "--oni_server", server.url,
             "--oni_extrinsic_coef", "0", "--max_episode_steps", "100", "--num_workers", "2",
             "--num_envs_per_worker", "2", "--train_for_env_steps", "4096", "--stats_avg", "4",
             "--experiment_summaries_interval", "2", "--experiment", "oni", "--train_dir", str(tmp_path / "sf")],
            check=False, capture_output=True, text=True, timeout=1200, cwd=tmp_path,
        )
        seen = stats(server)["messages"]
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert seen > 0  # the wrappers in Sample Factory's workers reported their messages
    summary = scalars(tmp_path / "sf" / "oni" / ".summary" / "0")
    assert max(summary["policy_stats/avg_intrinsic_return"]) > 0, sorted(summary)
    assert max(summary["reward/reward"]) > 0  # the learner's reward: ONI's alone, extrinsic weight 0
    assert summary["train/loss"]  # the learner updated on it
