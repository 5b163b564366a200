"""Training on a real Ray cluster of two nodes on this machine, torn down whatever happens.

``ray start --head`` and ``ray start --address=...`` start two Ray nodes (each its own raylet,
object store and one CPU, with a custom resource naming it); ``oni_rl.train`` joins the cluster
with ``--ray-address`` and runs one collector per worker as a Ray actor (one CPU each, so the two
land on the two nodes), then the script reads from Ray which node each collector actor ran on.
Extrinsic reward only (``--reward none``): this checks the cluster path, not ONI's labels.

    pip install -e '.[cluster]'
    python -m benchmarks.ray_two_nodes --frames 2048
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import free_port


def ray_cli() -> str:
    found = Path(sys.executable).with_name("ray")
    return str(found) if found.exists() else (shutil.which("ray") or "ray")


def start_cluster(port: int) -> None:
    common = ["--num-cpus", "1", "--disable-usage-stats"]
    env = os.environ | {"RAY_DISABLE_USAGE_STATS": "1"}
    subprocess.run([ray_cli(), "start", "--head", "--port", str(port), "--include-dashboard", "false",
                    "--resources", '{"node_head": 1}', *common], check=True, capture_output=True, env=env)
    subprocess.run([ray_cli(), "start", "--address", f"127.0.0.1:{port}", "--resources", '{"node_worker": 1}',
                    *common], check=True, capture_output=True, env=env)


def stop_cluster() -> None:
    subprocess.run([ray_cli(), "stop", "--force"], capture_output=True, check=False)


def collector_nodes(address: str) -> dict[str, list[str]]:
    """Ray node of every actor the cluster ran, by actor class (read from Ray's control store)."""
    import ray
    import ray._private.state as ray_state  # the public state API needs the dashboard, off here

    if not ray.is_initialized():
        ray.init(address=address)
    nodes: dict[str, list[str]] = {}
    for actor in ray_state.actors().values():
        nodes.setdefault(actor["ActorClassName"], []).append(actor["Address"]["NodeID"])
    return nodes


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=2048)
    args = p.parse_args()
    import ray

    from oni_rl.train import TrainConfig, train

    port = free_port()
    address = f"127.0.0.1:{port}"
    stop_cluster()  # a cluster left by an earlier, killed run
    try:
        start_cluster(port)
        with tempfile.TemporaryDirectory() as tmp:
            result = train(TrainConfig(reward="none", frames=args.frames, workers=2, envs_per_worker=2, rollout=32,
                                       run_dir=Path(tmp) / "ray", ray_address=address, progress=False,
                                       max_episode_steps=200, checkpoint_every=10**9))
        nodes = collector_nodes(address)
        cluster_nodes = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
    finally:
        if "ray" in sys.modules and ray.is_initialized():
            ray.shutdown()
        stop_cluster()
    collectors = {name: ids for name, ids in nodes.items() if "Collector" in name}
    used = {node for ids in collectors.values() for node in ids}
    print(f"trained {result.frames} frames at {result.frames_per_second:.0f} frames/s on a 2-node Ray cluster")
    print(f"cluster nodes: {len(cluster_nodes)}; collector actors: "
          + ", ".join(f"{name} on {[i[:8] for i in ids]}" for name, ids in collectors.items()))
    ok = len(cluster_nodes) == 2 and used == set(cluster_nodes)
    print("collectors ran on both nodes" if ok else "collectors did NOT run on both nodes")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
