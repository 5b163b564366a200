"""Message features for the learned reward models: hashed character n-grams, cached per message.

Hashing needs no vocabulary, so a message never seen in training still gets a feature vector
that shares n-grams with its relatives ("You kill the newt!" and "You kill the gnome lord!"
share "kill the"), which is what lets the classifier reward messages the LLM has not labelled.
A comparison of encoders (in git history; summary in docs/results.md) measured hashed words, hashed characters, both, a
character CNN and a pretrained sentence encoder (MiniLM) on held-out message families; words +
characters is the default: within noise of the best on both label sets, no torch, and 20–30×
cheaper per message than MiniLM.

:class:`FeatureCache` keeps one row per message ever seen, appended as messages arrive, so a
refit re-scores the whole table with one sparse matrix product instead of re-encoding it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.pipeline import FeatureUnion

N_FEATURES = 2**18


def make_vectorizer(n_features: int = N_FEATURES) -> HashingVectorizer:
    """Character 1–4-grams inside word boundaries, counts l2-normalised. Digits are masked
    first (``$ - 3 gold pieces`` and ``$ - 312 gold pieces`` are one message family)."""
    return HashingVectorizer(
        analyzer="char_wb",
        ngram_range=(1, 4),
        n_features=n_features,
        alternate_sign=False,
        norm="l2",
        lowercase=True,
        preprocessor=_mask_digits,
    )


def make_word_vectorizer(n_features: int = N_FEATURES) -> HashingVectorizer:
    """Word 1–2-grams ("kill", "is killed", "gold pieces"), digits masked, l2-normalised."""
    return HashingVectorizer(
        ngram_range=(1, 2),
        n_features=n_features,
        alternate_sign=False,
        norm="l2",
        preprocessor=_mask_digits,
    )


def make_features(n_features: int = N_FEATURES) -> FeatureUnion:
    """The server's encoder: word 1–2-grams and character 1–4-grams side by side.

    The most accurate of the cheap encoders on held-out message families across both label sets
    (docs/results.md).
    """
    return FeatureUnion([("words", make_word_vectorizer(n_features)), ("chars", make_vectorizer(n_features))])


_DIGITS = re.compile(r"\d+")
_WORD = re.compile(r"[a-z$#]+|[^\sa-z]")


def _mask_digits(text: str) -> str:
    return _DIGITS.sub("#", text.lower())


def message_family(text: str) -> str:
    """A coarse template of a message: its first three tokens with digits masked.

    Used to hold out *whole families* when measuring generalisation ("You kill the newt!" and
    "You kill the jackal!" are one family), so a held-out score is on templates never seen.
    """
    return " ".join(_WORD.findall(_mask_digits(text))[:3])


class FeatureCache:
    """Feature rows of the messages seen, in arrival order, grown in chunks, at most ``max_rows``.

    Beyond ``max_rows`` the oldest rows are dropped (a tenth at a time, so the cost of slicing
    the matrix is paid rarely): those messages keep the reward last published for them, and a
    fit that trains on one of them encodes it again. ``offset`` counts the dropped rows: the
    cached rows are the messages numbered ``offset`` to ``offset + len(self)`` in arrival order.
    """

    def __init__(self, n_features: int = N_FEATURES, max_rows: int = 500_000) -> None:
        self.vectorizer = make_features(n_features)
        self.n_features = 2 * n_features
        self.max_rows = max_rows
        self.offset = 0  # rows dropped so far (the oldest messages)
        self.index: dict[str, int] = {}  # message → its number in arrival order
        self.texts: list[str] = []  # cached row i is texts[i], message number offset + i
        self._chunks: list[sp.csr_matrix] = []
        self._matrix: sp.csr_matrix | None = None

    def __len__(self) -> int:
        return len(self.texts)

    def add(self, texts: Iterable[str]) -> list[str]:
        """Encode messages not cached yet; returns those that were new."""
        new = [t for t in dict.fromkeys(texts) if t not in self.index]
        if new:
            start = self.offset + len(self.texts)
            for number, text in enumerate(new, start=start):
                self.index[text] = number
            self.texts.extend(new)
            self._chunks.append(self.vectorizer.transform(new).tocsr())
            self._matrix = None
            if len(self.texts) > self.max_rows:
                self._drop_oldest(len(self.texts) - int(self.max_rows * 0.9))
        return new

    def matrix(self) -> sp.csr_matrix:
        """All cached rows, in arrival order (stacked lazily, once per growth)."""
        if self._matrix is None:
            if not self._chunks:
                return sp.csr_matrix((0, self.n_features), dtype=np.float64)
            self._matrix = sp.vstack(self._chunks, format="csr")
            self._chunks = [self._matrix]
        return self._matrix

    def rows(self, texts: list[str]) -> sp.csr_matrix:
        """Feature rows of messages in the order given; any not cached (dropped) is encoded anew."""
        missing = list(dict.fromkeys(t for t in texts if t not in self.index))
        if not missing:
            return self.matrix()[[self.index[t] - self.offset for t in texts]]
        cached = len(self.texts)
        extra = {t: cached + i for i, t in enumerate(missing)}
        stacked = sp.vstack([self.matrix(), self.encode(missing)], format="csr")
        return stacked[[self.index[t] - self.offset if t in self.index else extra[t] for t in texts]]

    def encode(self, texts: list[str]) -> sp.csr_matrix:
        """Features of arbitrary messages without caching them (for ``/v1/score``)."""
        return self.vectorizer.transform(texts).tocsr()

    def _drop_oldest(self, count: int) -> None:
        for text in self.texts[:count]:
            del self.index[text]
        self.texts = self.texts[count:]
        self._matrix = self.matrix()[count:]
        self._chunks = [self._matrix]
        self.offset += count
