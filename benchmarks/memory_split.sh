#!/bin/bash
# Whose memory grows in a training run: the reward server, the trainer or the env workers?
#
# The main command with the reward server in a process of its own (embedded LLM), RSS of the
# server, the trainer and the trainer's children (the env workers) sampled every 15 s with the
# frames trained so far, into OUT/rss.txt (stop 20: the 1M-frame run's main process grew
# 1.5 -> 1.8 GB with the server inside it; this tells which part).
#
#     bash benchmarks/memory_split.sh 400000 benchmarks/results/memory_split_400k
#
# It runs `python` from PATH (activate the venv first) or $PYTHON.
set -u
PYTHON=${PYTHON:-python}
FRAMES=${1:-400000}
OUT=${2:-benchmarks/results/memory_split}
PORT=${PORT:-18765}
WORK=$(mktemp -d)
mkdir -p "$OUT"
rss() { awk '/VmRSS/{print int($2/1024)}' "/proc/$1/status" 2>/dev/null || echo 0; }
"$PYTHON" -m reward_server --port "$PORT" --store "$WORK/oni.sqlite" --log-level WARNING > "$OUT/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
until curl -s "http://127.0.0.1:$PORT/healthz" > /dev/null; do
  kill -0 $SERVER 2>/dev/null || { echo "the reward server exited: see $OUT/server.log" >&2; exit 1; }
  sleep 1
done
"$PYTHON" examples/torchrl_nethack.py --frames "$FRAMES" --reward-server "http://127.0.0.1:$PORT" \
    --run-dir "$WORK/run" > /dev/null 2> "$OUT/train.stderr" &
TRAINER=$!
echo "seconds server_rss_mb trainer_rss_mb workers_rss_mb frames" > "$OUT/rss.txt"
t=0
while kill -0 $TRAINER 2>/dev/null; do
  workers=0
  for child in $(pgrep -P $TRAINER); do workers=$((workers + $(rss "$child"))); done
  frames=$(tail -1 "$WORK/run/episodes.csv" 2>/dev/null | cut -d, -f1)
  echo "$t $(rss $SERVER) $(rss $TRAINER) $workers ${frames:-0}" >> "$OUT/rss.txt"
  sleep 15; t=$((t + 15))
done
curl -s "http://127.0.0.1:$PORT/v1/stats" > "$OUT/server_stats.json"
