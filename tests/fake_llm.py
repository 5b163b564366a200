"""A fake OpenAI-compatible server on loopback: fault injection and fast tests of the machinery.

litellm reaches it through its real ``openai/`` provider and HTTP stack (chat and
``/v1/completions``), so retries, timeouts, routing and parsing are exercised exactly as against
vLLM. Its verdicts follow a keyword rule on the judged message, so tests of the queue, store,
table and client can predict labels; behaviour switches (fail, delay, garbage, malformed) inject
faults. It says nothing about label quality or prompts: those are tested with real models
(the embedded ones, and llama.cpp's server).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class FakeLLMBehaviour:
    positive_words: tuple[str, ...] = ("kill", "gold")
    strong_words: tuple[str, ...] = ()  # helpful with higher log-odds than the other positive words
    helpful_margin: float = 2.3  # yes-vs-no log-odds of a positive word's message (a rerun's noise: change it)
    fail_first: int = 0  # answer 500 to this many requests first
    fail_status: int = 500
    delay: float = 0.0  # seconds before answering
    garbage: bool = False  # answer with no label at all
    empty: bool = False  # answer with empty content and no logprobs
    malformed: bool = False  # a 200 whose body has no completion in it (empty choices)
    echo: bool = False  # generate mode: quote the judged message(s), unescaped, in the analysis
    requests: int = 0
    questions: list[str] = field(default_factory=list)


def judged_message(question: str) -> str:
    """The JSON-quoted message a labelling prompt asks about: its last ``Message:`` slot (any
    logprob style) or the generate prompt's ``rate this message:``, up to the line's end."""
    return re.split(r"Message: |rate this message: ", question)[-1].split("\n")[0]


class FakeLLMServer:
    def __init__(self) -> None:
        self.behaviour = FakeLLMBehaviour()
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeLLMServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/completions", self._text)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _injected_fault(self) -> web.Response | None:
        b = self.behaviour
        if b.delay:
            await asyncio.sleep(b.delay)
        if b.fail_first > 0:
            b.fail_first -= 1
            return web.json_response({"error": {"message": "injected failure"}}, status=b.fail_status)
        if b.malformed:
            return web.json_response({"id": "fake", "object": "chat.completion", "created": 0, "model": "m",
                                      "choices": []})
        return None

    def _answer_tokens(self, question: str) -> tuple[list[tuple[str, float]], str]:
        """(first-token alternatives, generate-mode answer) for a labelling or pairwise question."""
        b = self.behaviour
        pairs = re.findall(r"Message [12]: (\".*?\")\n?", question)
        if pairs and len(pairs) % 2 == 0:  # a pairwise question: the open pair is the last one
            helpful = [any(w in m.lower() for w in b.positive_words) for m in pairs[-2:]]
            verdict = "1" if helpful == [True, False] else "2" if helpful == [False, True] else "None"
            tops = {"1": [("1", -0.1), ("2", -2.4)], "2": [("2", -0.1), ("1", -2.4)],
                    "None": [("1", -0.69), ("2", -0.69)]}[verdict]
            analysis = f"1 says {json.loads(pairs[-2])} and 2 says {json.loads(pairs[-1])}" if b.echo else "ok"
            return tops, f"<analysis>{analysis}</analysis><preference>{verdict}</preference>"
        judged = judged_message(question).lower()
        helpful = any(w in judged for w in b.positive_words + b.strong_words)
        tops = [("Yes", -0.1), ("No", -0.1 - b.helpful_margin)] if helpful else [("No", -0.1), ("Yes", -2.4)]
        if any(w in judged for w in b.strong_words):
            tops = [("Yes", -0.01), ("No", -5.0)]
        analysis = f"The message {json.loads(judged_message(question))} is plain game text." if b.echo else "ok"
        answer = f"<knowledge>NetHack.</knowledge><analysis>{analysis}</analysis><label>{'FOO' if helpful else 'BAR'}</label>"
        if b.garbage:
            tops, answer = [("Hmm", -0.1), ("Well", -1.0)], "I cannot say."
        return tops, answer

    async def _text(self, request: web.Request) -> web.Response:
        """``/v1/completions``: the prompt arrives as plain text; legacy logprobs come back."""
        b = self.behaviour
        b.requests += 1
        body = await request.json()
        prompt = body["prompt"] if isinstance(body["prompt"], str) else body["prompt"][0]
        b.questions.append(prompt)
        fault = await self._injected_fault()
        if fault is not None:
            return fault
        tops, answer = self._answer_tokens(prompt)
        tops = [(" " + token, lp) for token, lp in tops]  # a continuation: the word after a space
        if b.empty:
            text, logprobs = "", None
        elif body.get("logprobs"):
            text = tops[0][0]
            logprobs = {"tokens": [text], "token_logprobs": [tops[0][1]], "text_offset": [0],
                        "top_logprobs": [dict(tops)]}
        else:
            text, logprobs = answer, None
        return web.json_response({
            "id": "fake", "object": "text_completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "text": text, "finish_reason": "length", "logprobs": logprobs}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        })

    async def _chat(self, request: web.Request) -> web.Response:
        b = self.behaviour
        b.requests += 1
        body = await request.json()
        question = body["messages"][-1]["content"]
        b.questions.append(question)
        fault = await self._injected_fault()
        if fault is not None:
            return fault
        tops, answer = self._answer_tokens(question)
        if b.empty:
            content, logprobs = "", None
        elif body.get("logprobs"):
            content = tops[0][0]
            logprobs = {"content": [{"token": content, "logprob": tops[0][1], "bytes": None,
                                      "top_logprobs": [{"token": t, "logprob": lp, "bytes": None} for t, lp in tops]}]}
        else:
            content, logprobs = answer, None
        return web.json_response({
            "id": "fake", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": logprobs,
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        })
