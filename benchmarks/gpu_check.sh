#!/usr/bin/env bash
# The GPU check: ONI training on a GPU machine with 16 cores, torch already installed
# and no network, at 4, 8 and 14 collector workers; prints frames/s, GPU utilisation and the
# learner / collector time split.
#
#   bash benchmarks/gpu_check.sh prepare   # here: wheels and labels into .whl/ (git-ignored, ~12 MB)
#   bash benchmarks/gpu_check.sh run       # there, as one command of at most 8 minutes:
#                                          # device run with carry [".whl"], timeout_s 540
#   bash benchmarks/gpu_check.sh modes     # there: every collection mode at 14 workers, 120k frames each
#   MODES="per-worker-sync per-worker-async" FRAMES=60000 bash benchmarks/gpu_check.sh modes
#                                          # some modes only (DEVICE sets --device)
#   LABELS_FROM=RUN/oni.sqlite bash benchmarks/gpu_check.sh prepare
#                                          # here: labels (and the judge's cut) of a CPU training run
#   bash benchmarks/gpu_check.sh learn     # there: reward-free Score, ONI-retrieval on those labels vs
#                                          # novelty, one seed each, ~3.5 min each (FRAMES, WORKERS);
#                                          # here, its CPU path: PYTHON=.venv/bin/python NO_WHEELS=1 DEVICE=cpu \
#                                          #   WORKERS=2 FRAMES=4096 bash benchmarks/gpu_check.sh learn
#
# Measured on an H100 (2026-11-26): `run` ~2.5 min, `modes` ~6.5 min, plus ~1.5 min to start the
# machine; the labels' answers pay nothing there (none of them clears the cut), which a throughput
# check does not need. Results in docs/results.md.
#
# What travels: the working tree plus .whl/: the wheels the GPU image lacks (NLE, gymnasium,
# TorchRL and tensordict, pydantic and pydantic-settings, for Python 3.12 on x86-64) and
# labels.jsonl, LLM answers made here with the embedded judge (`python -m reward_server export`).
# The reward server there imports them and serves them; it has no LLM (neither litellm nor
# llama.cpp travels: 44 MB and a compiler away), so messages it has no answer for pay 0, which
# is what a throughput check needs. The server runs in its own process beside the trainer, as a
# user's server would (`--reward-server URL`).
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=.whl
PY=${PYTHON:-python3}

prepare() {
    rm -rf "$WHEELS"; mkdir -p "$WHEELS"  # one version of each wheel: two stop the install there
    local pins=(nle==1.3.0 gymnasium==1.2.0 farama-notifications==0.0.4 torchrl==0.14.1 tensordict==0.14.3
                hoptorch==0.1.4 pyvers==0.2.3 orjson importlib_metadata pydantic==2.14.4 pydantic-core==2.50.5
                annotated-types==0.8.0 typing-inspection==0.4.5 typing-extensions==4.16.0 pydantic-settings==2.16.3 "python-dotenv>=1.2.2")
    .venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d "$WHEELS" "${pins[@]}"
    rm -f "$WHEELS/prep.sqlite" "$WHEELS/labels.jsonl" "$WHEELS/threshold.txt"
    if [[ -n "${LABELS_FROM:-}" ]]; then
        # a CPU training run's labels by the default judge, and the log-odds cut that judge set
        .venv/bin/python -m reward_server export "$WHEELS/labels.jsonl" --store "$LABELS_FROM"
        .venv/bin/python - "$LABELS_FROM" > "$WHEELS/threshold.txt" <<'PY'
import json, sqlite3, sys
from reward_server.judging.prompts import calibration_examples
from reward_server.models.calibration import evidence_cut
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
# the question most of the store's answers are for, and the cut its judge set (other questions'
# calibrations may sit beside it: another goal, an older prompt)
question = db.execute("SELECT goal, prompt_version, model, label_mode FROM annotations "
                      "GROUP BY 1, 2, 3, 4 ORDER BY COUNT(*) DESC LIMIT 1").fetchone()
(key, value), = db.execute("SELECT key, value FROM meta WHERE key LIKE ?", ("calibration|" + "|".join(question) + "|%",)).fetchall()
scores, examples = json.loads(value), calibration_examples(question[0])
pairs = [(s, v) for s, (_, v) in zip(scores, examples, strict=True) if s is not None]
print(evidence_cut([s for s, v in pairs if v], [s for s, v in pairs if not v]))
PY
    else
        # labels of real play, by the embedded default judge: a random agent's messages
        .venv/bin/python examples/quickstart.py --steps 3000 --store "$WHEELS/prep.sqlite" --top 3 > /dev/null
        .venv/bin/python -m reward_server export "$WHEELS/labels.jsonl" --store "$WHEELS/prep.sqlite"
        rm -f "$WHEELS"/prep.sqlite*
    fi
    du -sh "$WHEELS"
}

OUTDIR=${OUT:-/tmp/gpu_out}

setup() {
    mkdir -p "$OUTDIR" /tmp/gpu
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl
    export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
    {
        nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
        $PY -c "import torch, torchrl, tensordict, nle; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'torchrl', torchrl.__version__, 'tensordict', tensordict.__version__, 'nle', nle.__version__)"
        nproc
    } | tee "$OUTDIR/machine.txt"
    rm -f /tmp/gpu/oni.sqlite*
    $PY -m reward_server import "$WHEELS/labels.jsonl" --store /tmp/gpu/oni.sqlite
    $PY -m reward_server --store /tmp/gpu/oni.sqlite --no-preflight --calibration fixed --threshold 0.8 \
        --port 8765 --log-level WARNING > "$OUTDIR/server.log" 2>&1 &
    SERVER=$!
    trap 'kill $SERVER 2>/dev/null || true' EXIT
    $PY -c "import httpx, time
for _ in range(240):
    try:
        if httpx.get('http://127.0.0.1:8765/healthz').status_code == 200: break
    except httpx.HTTPError: pass
    time.sleep(0.5)"
    echo "| run | frames/s | waiting for batches | GPU util mean / max % |" | tee "$OUTDIR/gpu_check.md"
    echo "| --- | --- | --- | --- |" | tee -a "$OUTDIR/gpu_check.md"
}

# one training run on the GPU, with the GPU's utilisation sampled every 0.5 s beside it
measure() {  # name workers frames [trainer flags...]
    local name=$1 workers=$2 frames=$3; shift 3
    nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits -lms 500 > "/tmp/gpu/util_$name" &
    local sampler=$!
    $PY examples/torchrl_nethack.py --device "${DEVICE:-cuda}" --workers "$workers" --envs-per-worker 4 --frames "$frames" \
        --reward-server http://127.0.0.1:8765 --run-dir "/tmp/gpu/$name" --quiet "$@" 2>&1 \
        | tee "$OUTDIR/train_$name.log" | grep -E "^trained" || true
    kill $sampler 2>/dev/null || true
    local summary util
    summary=$(grep -E "^trained" "$OUTDIR/train_$name.log" || echo "trained ? frames (? frames/s, ?% of the time waiting")
    util=$(awk '{s+=$1; if ($1>m) m=$1} END {if (NR) printf "%.0f / %.0f", s/NR, m; else print "-"}' "/tmp/gpu/util_$name")
    echo "| $name | $(echo "$summary" | sed -E 's/.*\(([0-9,.]+) frames\/s.*/\1/') |" \
         "$(echo "$summary" | sed -E 's/.* ([0-9]+%) of the time waiting.*/\1/') | $util |" | tee -a "$OUTDIR/gpu_check.md"
}

# the throughput check: batched collection (the default) at 4, 8 and 14 workers of 4 envs
run() {
    setup
    for workers in 4 8 14; do measure "${workers}x4" "$workers" 40000; done
}

# every collection mode at 14 workers x 4 envs, long enough (120k frames) for start-up to matter less;
# MODES picks some (e.g. MODES=per-worker-sync), FRAMES changes the length
modes() {
    setup
    for mode in ${MODES:-batched-sync batched-async per-worker-sync per-worker-async}; do
        local flags=(--collection "${mode%-*}")
        [[ $mode == *-async ]] && flags+=(--async-collection)
        measure "$mode" 14 "${FRAMES:-120000}" "${flags[@]}"
    done
}

# reward-free Score on the GPU machine: ONI-retrieval serving the imported labels (offline: no LLM
# travels, so a message without an imported label pays 0) against novelty, one seed each, each
# arm's server in its own process; prints frames reached and what the agents did in the last 20%
learn() {
    mkdir -p "$OUTDIR" /tmp/gpu
    if [[ -z "${NO_WHEELS:-}" ]]; then
        $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl
        export PYTHONPATH=/tmp/site:$PWD
    fi
    export PYTHONUNBUFFERED=1
    local threshold port=8770
    threshold=$(cat "$WHEELS/threshold.txt" 2>/dev/null || echo 0.0)
    echo "| arm | frames | frames/s | episodes in the last 20% | score | kills | gold | deepest level |" \
        | tee "$OUTDIR/learn.md"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- |" | tee -a "$OUTDIR/learn.md"
    for arm in retrieval novelty; do
        port=$((port + 1))
        rm -rf "/tmp/gpu/learn_$arm"*
        [[ $arm == retrieval ]] && $PY -m reward_server import "$WHEELS/labels.jsonl" --store "/tmp/gpu/learn_$arm.sqlite"
        $PY -m reward_server --store "/tmp/gpu/learn_$arm.sqlite" --reward-model "$arm" --offline --no-preflight \
            --calibration fixed --threshold "$threshold" --port "$port" --log-level WARNING > "$OUTDIR/server_$arm.log" 2>&1 &
        local server=$!
        $PY -c "import httpx, sys, time
for _ in range(240):
    try:
        if httpx.get('http://127.0.0.1:$port/healthz').status_code == 200: break
    except httpx.HTTPError: pass
    time.sleep(0.5)
else:
    sys.exit('the $arm server did not start')
if '$arm' == 'retrieval' and not httpx.get('http://127.0.0.1:$port/v1/stats').json()['labelled']:
    sys.exit('the imported labels are for another question (another prompt version, LLM or goal) than '
             'this commit asks: prepare them from a run of this commit (LABELS_FROM)')" || { kill $server; exit 1; }
        timeout "${ARM_SECONDS:-240}" $PY examples/torchrl_nethack.py --device "${DEVICE:-cuda}" --workers "${WORKERS:-14}" \
            --envs-per-worker 4 --frames "${FRAMES:-600000}" --reward "$arm" --reward-server "http://127.0.0.1:$port" \
            --extrinsic-coef 0 --max-episode-steps 1000 --seed 0 --run-dir "/tmp/gpu/learn_$arm" --quiet \
            > "$OUTDIR/train_learn_$arm.log" 2>&1 || echo "($arm: stopped at the time limit or failed; see train_learn_$arm.log)"
        kill $server 2>/dev/null || true
        $PY - "$arm" "/tmp/gpu/learn_$arm/episodes.csv" "$OUTDIR/train_learn_$arm.log" <<'PY' | tee -a "$OUTDIR/learn.md"
import csv, re, statistics, sys
arm, path, log = sys.argv[1:]
rows = list(csv.DictReader(open(path))) if __import__("os").path.exists(path) else []
frames = max((int(r["frames"]) for r in rows), default=0)
tail = [r for r in rows if int(r["frames"]) >= 0.8 * frames]
mean = lambda k: f"{statistics.mean(float(r[k]) for r in tail):.2f}" if tail else "-"
rate = re.search(r"\(([0-9,]+) frames/s", open(log).read())
print(f"| {arm} | {frames:,} | {rate.group(1) if rate else '-'} | {len(tail)} | {mean('score')} | {mean('kills')} "
      f"| {mean('gold')} | {mean('depth')} |")
PY
    done
}

case "${1:-}" in
    prepare) prepare ;;
    run) run ;;
    modes) modes ;;
    learn) learn ;;
    *) echo "usage: bash benchmarks/gpu_check.sh prepare|run|modes|learn" >&2; exit 2 ;;
esac
