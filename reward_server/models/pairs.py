"""Which pairs of messages to compare: each message gets ``pairs_per_message`` comparisons,
half against recent messages (what the current policy sees) and half against any message seen.
"""

from __future__ import annotations

import random
from collections.abc import Sequence


class PairSampler:
    """Pairs to ask the LLM about: ``pairs_per_message`` for each message, in random order.

    Partners are drawn half from the ``recent`` most recent messages and half from all seen,
    never the message itself nor twice the same partner; the order within a pair is random so a model's position bias
    becomes noise instead of a systematic reward for whatever is asked about first.
    """

    def __init__(self, pairs_per_message: int = 2, recent: int = 512, seed: int | None = None) -> None:
        self.pairs_per_message = pairs_per_message
        self.recent = recent
        self._seen: list[str] = []
        self._known: set[str] = set()
        self._random = random.Random(seed)

    def observe(self, texts: Sequence[str]) -> None:
        for text in texts:
            if text not in self._known:
                self._known.add(text)
                self._seen.append(text)

    def pairs_for(self, texts: Sequence[str], missing: dict[str, int] | None = None) -> list[tuple[str, str]]:
        """New pairs for ``texts`` (``missing[text]`` of them each, default ``pairs_per_message``)."""
        pairs: list[tuple[str, str]] = []
        for text in texts:
            wanted = self.pairs_per_message if missing is None else missing.get(text, 0)
            partners = {text}
            for i in range(wanted):
                pool = self._seen[-self.recent :] if i % 2 == 0 else self._seen
                partner = self._partner(partners, pool)
                if partner is None:
                    break
                partners.add(partner)
                pair = (text, partner) if self._random.random() < 0.5 else (partner, text)
                pairs.append(pair)
        return pairs

    def _partner(self, taken: set[str], pool: list[str]) -> str | None:
        """A message of ``pool`` not in ``taken`` (a few random draws, then a scan)."""
        for _ in range(8):
            partner = self._random.choice(pool) if pool else None
            if partner is not None and partner not in taken:
                return partner
        free = [m for m in pool[-4 * len(taken) - 8 :] if m not in taken] or [m for m in pool if m not in taken]
        return self._random.choice(free) if free else None
