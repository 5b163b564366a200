"""Reading labels out of LLM answers, for both label modes.

Answers come from many models and providers, so parsing is forgiving about layout (case,
spacing, brackets, a missing closing tag) and strict about meaning: an answer that names
neither label word, or both in the ``<label>`` slot, is *unparsable* (``None``), never guessed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from reward_server.judging.prompts import LabelWords


class UnparsableAnswer(ValueError):
    """The LLM answered, but the answer holds no usable label."""


def parse_generated_label(answer: str, words: LabelWords) -> int:
    """1 / 0 from a chain-of-thought answer; raises :class:`UnparsableAnswer` otherwise.

    Looks in the ``<label>`` slot first (the format the prompt asks for); failing that, takes
    the last label word in the answer, since models state the verdict after the analysis.
    """
    pos, neg = re.escape(words.positive), re.escape(words.negative)
    slot = re.search(r"<\s*label\s*>(.*?)(?:<\s*/\s*label\s*>|$)", answer, re.IGNORECASE | re.DOTALL)
    if slot:
        found = re.findall(rf"\b({pos}|{neg})\b", slot.group(1), re.IGNORECASE)
        verdicts = {w.lower() for w in found}
        if len(verdicts) == 1:
            return int(verdicts.pop() == words.positive.lower())
    found = re.findall(rf"\b({pos}|{neg})\b", answer, re.IGNORECASE)
    if not found:
        raise UnparsableAnswer(f"no {words.positive}/{words.negative} label in answer")
    return int(found[-1].lower() == words.positive.lower())


def parse_preference(answer: str) -> int | None:
    """1 or 2 (the message showing more progress) or ``None`` for a tie, from a pairwise answer.

    Reads the ``<preference>`` slot, else the last standalone 1 / 2 / None in the answer;
    raises :class:`UnparsableAnswer` when there is none or the slot names two verdicts.
    """
    pattern = r"(?<![\w.])(1|2|none)(?![\w.])"
    slot = re.search(r"<\s*preference\s*>(.*?)(?:<\s*/\s*preference\s*>|$)", answer, re.IGNORECASE | re.DOTALL)
    found = re.findall(pattern, slot.group(1), re.IGNORECASE) if slot else []
    if slot and len({f.lower() for f in found}) > 1:
        raise UnparsableAnswer("the <preference> slot names more than one verdict")
    if not found:
        found = re.findall(pattern, answer, re.IGNORECASE)
    if not found:
        raise UnparsableAnswer("no 1 / 2 / None preference in answer")
    verdict = found[-1].lower()
    return None if verdict == "none" else int(verdict)


def _matches(token: str, word: str) -> bool:
    cleaned = token.strip().strip("\"'.,:;!<>[]()").lower()
    return bool(cleaned) and word.lower().startswith(cleaned) and len(cleaned) >= min(2, len(word))


def label_log_odds(top_logprobs: Iterable[tuple[str, float]], words: LabelWords) -> float:
    """log P(positive) − log P(negative) for the first answer token.

    Tokenisers split words differently (" Yes", "Yes", "yes", "Y"+"es"), so every top token
    that spells a prefix of a label word counts toward it. A label word absent from the
    top-k is bounded by the smallest log-probability shown, which keeps the margin finite.
    """
    entries = list(top_logprobs)
    if not entries:
        raise UnparsableAnswer("the provider returned no log-probabilities")
    floor = min(lp for _, lp in entries)
    pos = [lp for tok, lp in entries if _matches(tok, words.positive)]
    neg = [lp for tok, lp in entries if _matches(tok, words.negative)]
    if not pos and not neg:
        raise UnparsableAnswer(
            f"neither {words.positive!r} nor {words.negative!r} among the top answer tokens"
        )
    return _logsumexp(pos or [floor]) - _logsumexp(neg or [floor])


def _logsumexp(values: list[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))
