"""Message features for the learned reward models: hashed character n-grams, cached per message.

Hashing needs no vocabulary, so a message never seen in training still gets a feature vector
that shares n-grams with its relatives ("You kill the newt!" and "You kill the gnome lord!"
share "kill the"), which is what lets the classifier reward messages the LLM has not labelled.
``benchmarks/encoder_comparison.py`` measured hashed words, hashed characters, both, a
character CNN and a pretrained sentence encoder (MiniLM) on held-out message families; words +
characters is the default: within noise of the best on both label sets, no torch, and 20–30×
cheaper per message than MiniLM (see RESULTS.md).

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

    ``benchmarks/encoder_comparison.py`` picked it: the most accurate of the cheap encoders on
    held-out message families across both label sets (see RESULTS.md).
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
    """Feature rows of every message seen, in arrival order, grown in chunks."""

    def __init__(self, n_features: int = N_FEATURES) -> None:
        self.vectorizer = make_features(n_features)
        self.n_features = 2 * n_features
        self.index: dict[str, int] = {}
        self.texts: list[str] = []  # row i is texts[i]
        self._chunks: list[sp.csr_matrix] = []
        self._matrix: sp.csr_matrix | None = None

    def __len__(self) -> int:
        return len(self.index)

    def add(self, texts: Iterable[str]) -> list[str]:
        """Encode messages not cached yet; returns those that were new."""
        new = [t for t in dict.fromkeys(texts) if t not in self.index]
        if new:
            start = len(self.index)
            for offset, text in enumerate(new):
                self.index[text] = start + offset
            self.texts.extend(new)
            self._chunks.append(self.vectorizer.transform(new).tocsr())
            self._matrix = None
        return new

    def matrix(self) -> sp.csr_matrix:
        """All rows, in index order (stacked lazily, once per growth)."""
        if self._matrix is None:
            if not self._chunks:
                return sp.csr_matrix((0, self.n_features), dtype=np.float64)
            self._matrix = sp.vstack(self._chunks, format="csr")
            self._chunks = [self._matrix]
        return self._matrix

    def rows(self, texts: list[str]) -> sp.csr_matrix:
        """Feature rows of cached messages, in the order given."""
        return self.matrix()[[self.index[t] for t in texts]]

    def encode(self, texts: list[str]) -> sp.csr_matrix:
        """Features of arbitrary messages without caching them (for ``/v1/score``)."""
        return self.vectorizer.transform(texts).tocsr()
