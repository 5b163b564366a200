"""ONI rewards in Gymnasium's vector envs: the README's recipe, run exactly as a user runs it.

``gym.vector.AsyncVectorEnv([lambda: OniRewardWrapper(gym.make("nle:NetHackScore-v0"),
server=url)] * workers)`` steps ``--steps`` random actions; the script prints one JSON line with,
per worker, the highest reward-table version it saw and the intrinsic reward it received. A
worker whose client thread cannot reach the server ends at table version 0 with no intrinsic
reward (the failure a client thread caused when it imported httpcore in the parent while
AsyncVectorEnv forked its workers).

    python examples/vector_envs.py --server http://127.0.0.1:8765 --context fork
    python examples/vector_envs.py --runs 10            # starts a default server, 10 fresh runs

With ``--runs`` every run is a new interpreter (``subprocess``), so no import state carries over.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time


def run_recipe(server: str, context: str | None, workers: int, steps: int, parent_env_first: bool) -> dict:
    """One run of the recipe in this interpreter; returns what each worker received."""
    import gymnasium as gym
    import nle  # noqa: F401 - registers the NetHack envs
    import numpy as np

    from oni_wrappers import OniRewardWrapper

    if parent_env_first:  # the README's first snippet, then the vector recipe
        single = OniRewardWrapper(gym.make("NetHackScore-v0"), server=server)
        single.reset(seed=0)
        single.step(single.action_space.sample())
    envs = gym.vector.AsyncVectorEnv(
        [lambda: OniRewardWrapper(gym.make("nle:NetHackScore-v0"), server=server)] * workers, context=context
    )
    versions = np.zeros(workers, dtype=np.int64)
    intrinsic = np.zeros(workers)
    stale_steps = np.zeros(workers, dtype=np.int64)
    try:
        envs.reset(seed=0)
        envs.action_space.seed(0)
        for _ in range(steps):
            _, _, _, _, infos = envs.step(envs.action_space.sample())
            oni = infos["oni"]
            versions = np.maximum(versions, oni["table_version"])
            intrinsic += np.abs(oni["intrinsic"])
            stale_steps += np.asarray(oni.get("stale", False), dtype=np.int64)  # absent from older wrappers' info
    finally:
        envs.close()
    return {
        "context": context or "default",
        "table_versions": versions.tolist(),
        "intrinsic": intrinsic.round(3).tolist(),
        "stale_steps": stale_steps.tolist(),
        "synced": bool((versions > 0).all()),
        "ok": bool((versions > 0).all() and (intrinsic > 0).all()),
    }


def fresh_runs(server: str, runs: int, context: str, workers: int, steps: int, parent_env_first: bool) -> list[dict]:
    """``runs`` runs of the recipe, each in a new interpreter."""
    results = []
    for i in range(runs):
        cmd = [sys.executable, __file__, "--server", server, "--context", context,
               "--workers", str(workers), "--steps", str(steps)]
        if parent_env_first:
            cmd.append("--parent-env-first")
        started = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
        if done.returncode != 0:
            result = {"ok": False, "error": done.stderr[-2000:]}
        else:
            result = json.loads(done.stdout.strip().splitlines()[-1])
        result["seconds"] = round(time.perf_counter() - started, 1)
        print(f"run {i + 1}/{runs}: {json.dumps(result)}", flush=True)
        results.append(result)
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", help="URL of a running reward server (default: start one with --runs)")
    p.add_argument("--context", default="default", choices=["default", "fork", "spawn", "forkserver"],
                   help="multiprocessing start method of AsyncVectorEnv (default: the platform's)")
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--parent-env-first", action="store_true",
                   help="create and step one wrapped env in the parent before the vector env")
    p.add_argument("--runs", type=int, help="run the recipe this many times, each in a fresh interpreter")
    p.add_argument("--server-args", default="", help="extra arguments for the started server")
    args = p.parse_args()
    if args.runs is None:
        if args.server is None:
            p.error("--server is needed for a single run")
        context = None if args.context == "default" else args.context
        print(json.dumps(run_recipe(args.server, context, args.workers, args.steps, args.parent_env_first)))
        return
    if args.server is not None:
        results = fresh_runs(args.server, args.runs, args.context, args.workers, args.steps, args.parent_env_first)
    else:
        from pydantic_settings import CliApp

        from reward_server import ServerConfig
        from reward_server.runner import BackgroundServer

        settings = CliApp.run(ServerConfig, cli_args=["--port", "0", *args.server_args.split()])
        with BackgroundServer(settings) as server:
            results = fresh_runs(server.url, args.runs, args.context, args.workers, args.steps, args.parent_env_first)
    good = sum(r["ok"] for r in results)
    synced = sum(r.get("synced", False) for r in results)
    print(f"every worker synced the table in {synced} and got intrinsic reward in {good} of {len(results)} "
          f"fresh runs (context {args.context}, {args.workers} workers, {args.steps} steps)")


if __name__ == "__main__":
    main()
