"""Turning NLE's ``message`` observation into the text that rewards are keyed by.

NLE hands the top-line message as a fixed 256-byte ``uint8`` array, NUL-padded. Game text is
ASCII in practice, but player-chosen names and corrupted memory can put any byte there, so
decoding must never raise. Every wrapper and the server must agree on the exact key for a
message, which is why the normalisation lives in this one module.
"""

from __future__ import annotations

import numpy as np


def normalize_message(text: str) -> str:
    """Canonical form of a message: surrounding whitespace removed, internal spacing kept.

    NLE pads prompts with a trailing space ("What do you want to eat? [gij or ?*] ") and joins
    sentences with two spaces; only the padding is noise.
    """
    return text.strip()


def decode_message_bytes(raw: bytes) -> str:
    """Decode NUL-terminated, possibly non-UTF-8 bytes into a normalised message.

    Bytes after the first NUL are ignored (NLE leaves stale bytes there). Invalid UTF-8 is
    replaced with U+FFFD rather than raising, so a strange byte can never crash an env step.
    """
    text = raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")
    return normalize_message(text)


class MessageDecoder(dict[bytes, str]):
    """Decodes NLE message arrays, memoised by their raw bytes: ``decoder[array.tobytes()]``.

    An agent sees a few thousand distinct messages over millions of steps, so nearly every step
    is a memo hit. The memo is the dict itself and decoding happens in ``__missing__``, so a hit
    is one C-level subscript with no Python call: the wrapper's step path pays for ``tobytes`` and
    one dict lookup, nothing else (the wrapper's whole step should cost under 5% of NLE's). Bounded: the memo is emptied when it reaches ``max_cached`` raw messages
    (engravings and names can make them unbounded).
    """

    def __init__(self, max_cached: int = 1_000_000) -> None:
        super().__init__()
        self.max_cached = max_cached

    def __missing__(self, raw: bytes) -> str:
        text = decode_message_bytes(raw)
        if len(self) >= self.max_cached:
            self.clear()
        self[raw] = text
        return text

    def decode(self, message_array: np.ndarray) -> str:
        """The normalised message of one NLE ``message`` array."""
        return self[message_array.tobytes()]
