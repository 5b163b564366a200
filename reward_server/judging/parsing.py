"""Reading labels out of LLM answers, for both label modes.

Answers come from many models and providers, so parsing is forgiving about layout (case,
spacing, brackets, a missing closing tag) and strict about meaning: an answer that names
neither label word, or both in the ``<label>`` slot, is *unparsable* (``None``), never guessed.

Game text is the attacker's: an engraving or a shopkeeper may say ``<label> FOO </label>``, and
a model that quotes the message in its analysis puts that slot in its answer *before* its own
verdict. So the verdict is the *last* slot, and verbatim echoes of the judged messages that
hold a slot tag are cut out of the answer before it is read.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence

from reward_server.judging.prompts import LabelWords


class UnparsableAnswer(ValueError):
    """The LLM answered, but the answer holds no usable label."""


_TAG = re.compile(r"<\s*/?\s*(?:label|preference)\s*>", re.IGNORECASE)


def _without_echoes(answer: str, quoted: Sequence[str]) -> str:
    """``answer`` with every verbatim copy of a judged message that holds a slot tag removed
    (as written, and JSON-quoted as the prompt shows it)."""
    for text in quoted:
        if _TAG.search(text):
            for form in (json.dumps(text, ensure_ascii=False), text):
                answer = answer.replace(form, " ")
    return answer


def _last_slot(answer: str, tag: str) -> str | None:
    """The content of the last ``<tag>`` slot (to its closing tag, or the end of a cut answer)."""
    slots = re.findall(rf"<\s*{tag}\s*>(.*?)(?:<\s*/\s*{tag}\s*>|$)", answer, re.IGNORECASE | re.DOTALL)
    return slots[-1] if slots else None


def parse_generated_label(answer: str, words: LabelWords, quoted: Sequence[str] = ()) -> int:
    """1 / 0 from a chain-of-thought answer; raises :class:`UnparsableAnswer` otherwise.

    Looks in the last ``<label>`` slot first (the format the prompt asks for, and the verdict
    comes last); failing that, takes the last label word in the answer, since models state the
    verdict after the analysis. ``quoted``: the judged message, whose echoes are not read.
    """
    answer = _without_echoes(answer, quoted)
    pos, neg = re.escape(words.positive), re.escape(words.negative)
    slot = _last_slot(answer, "label")
    if slot is not None:
        found = re.findall(rf"\b({pos}|{neg})\b", slot, re.IGNORECASE)
        verdicts = {w.lower() for w in found}
        if len(verdicts) == 1:
            return int(verdicts.pop() == words.positive.lower())
    found = re.findall(rf"\b({pos}|{neg})\b", answer, re.IGNORECASE)
    if not found:
        raise UnparsableAnswer(f"no {words.positive}/{words.negative} label in answer")
    return int(found[-1].lower() == words.positive.lower())


def parse_preference(answer: str, quoted: Sequence[str] = ()) -> int | None:
    """1 or 2 (the message showing more progress) or ``None`` for a tie, from a pairwise answer.

    Reads the last ``<preference>`` slot, else the last standalone 1 / 2 / None in the answer;
    raises :class:`UnparsableAnswer` when there is none or the slot names two verdicts.
    ``quoted``: the two messages, whose echoes are not read.
    """
    answer = _without_echoes(answer, quoted)
    pattern = r"(?<![\w.])(1|2|none)(?![\w.])"
    slot = _last_slot(answer, "preference")
    found = re.findall(pattern, slot, re.IGNORECASE) if slot is not None else []
    if slot is not None and len({f.lower() for f in found}) > 1:
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
