"""How well ELLM-BoW's similarity to the goal ranks the labelled messages, and where its cut lands.

The figures behind the choices in ``reward_server/models/ellm_bow.py``: ROC AUC of the cosine
similarity between the message and the goal in GloVe 6B 50d vectors, summed over every token (the
reference's way) or over content words only (oni's), on both labelled files; and, for the
content-word similarity, the cut the calibration messages give with retrieval's cost-weighted rule
and with the balanced rule the model uses, with what each pays on both files.

    python -m benchmarks.ellm_bow_vectors --goal default
"""

from __future__ import annotations

import argparse
import json
import re

import numpy as np
from sklearn.metrics import roc_auc_score

from benchmarks.common import AGENTPLAY_DATA, DEV_DATA
from reward_server.judging.prompts import calibration_examples, goal_text
from reward_server.models.calibration import evidence_cut
from reward_server.models.ellm_bow import WordVectors, cosine

#: every token, as the reference's fastText tokenizer keeps them: words, clitics, digits, punctuation
_EVERY_TOKEN = re.compile(r"[a-z]+|'[a-z]+|\d+|[^\w\s]")


def every_token_embedding(vectors: WordVectors, text: str) -> np.ndarray:
    rows = [vectors.index[t] for t in _EVERY_TOKEN.findall(text.lower()) if t in vectors.index]
    return np.asarray(vectors.matrix[sorted(rows)], dtype=np.float32).sum(axis=0) if rows else np.zeros(50)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--goal", default="default")
    args = p.parse_args()
    vectors = WordVectors.shipped()
    embeddings = {"every token": lambda t: every_token_embedding(vectors, t), "content words": vectors.embed}
    files = {"agent play": AGENTPLAY_DATA, "random play": DEV_DATA}
    labelled = {name: [(r["message"], int(r[args.goal])) for r in map(json.loads, path.read_text().splitlines())
                       if args.goal in r] for name, path in files.items()}
    print("| similarity over | " + " | ".join(f"AUC, {name}" for name in files) + " |")
    print("| --- | " + " | ".join("---" for _ in files) + " |")
    for how, embed in embeddings.items():
        goal = embed(goal_text(args.goal))
        aucs = [roc_auc_score([y for _, y in rows], [cosine(embed(m), goal) for m, _ in rows])
                for rows in labelled.values()]
        print(f"| {how} | " + " | ".join(f"{a:.3f}" for a in aucs) + " |")
    goal = vectors.embed(goal_text(args.goal))
    examples = [(cosine(vectors.embed(m), goal), v) for m, v in calibration_examples(args.goal)]
    helpful = [s for s, v in examples if v]
    unhelpful = [s for s, v in examples if not v]
    cuts = {"cost-weighted (retrieval's, a paid junk message counts 2)": evidence_cut(helpful, unhelpful),
            "balanced (ellm-bow's default)": evidence_cut(helpful, unhelpful, len(helpful) / len(unhelpful))}
    print("\n| cut on content-word similarity | value | " + " | ".join(
        f"{name}: junk paid, helpful paid" for name in files) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in files) + " |")
    for name, cut in cuts.items():
        cells = []
        for rows in labelled.values():
            paid = [(cosine(vectors.embed(m), goal) > cut, y) for m, y in rows]
            junk = [p for p, y in paid if not y]
            good = [p for p, y in paid if y]
            cells.append(f"{np.mean(junk):.3f}, {np.mean(good):.3f}" if good else f"{np.mean(junk):.3f}, -")
        print(f"| {name} | {cut:.3f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
