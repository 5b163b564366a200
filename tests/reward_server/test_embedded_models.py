"""The embedded LLMs: which models exist, how a chat reaches a base model, and the real files."""

import gc
import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from reward_server.config import ServerConfig
from reward_server.judging.embedded_llm import (
    DEFAULT_EMBEDDED_MODEL,
    EMBEDDED_MODELS,
    EmbeddedLlama,
    embedded_model,
    labelling_defaults,
    model_cache_dir,
)
from reward_server.judging.parsing import label_log_odds
from reward_server.judging.prompts import YES_NO_WORDS, logprob_messages, render_plain

SMOLLM2 = "embedded/smollm2-135m-instruct"


def test_model_strings_name_known_models_or_fail_clearly():
    assert embedded_model(DEFAULT_EMBEDDED_MODEL).name == "gemma-3-270m"
    assert embedded_model(SMOLLM2) is EMBEDDED_MODELS["smollm2-135m-instruct"]
    with pytest.raises(ValueError, match="unknown embedded model 'embedded/gpt-5'.*embedded/gemma-3-270m"):
        embedded_model("embedded/gpt-5")


def test_each_model_gets_the_prompt_style_measured_best_for_it():
    assert labelling_defaults(DEFAULT_EMBEDDED_MODEL) == ("many-shot", True)
    assert labelling_defaults(SMOLLM2) == ("paper", False)
    assert labelling_defaults("hosted_vllm/meta-llama/Llama-3.1-8B-Instruct") == ("many-shot", False)
    assert ServerConfig().prompt_style == "many-shot"
    assert ServerConfig(llm=SMOLLM2).prompt_style == "paper"
    assert ServerConfig(llm=SMOLLM2, prompt_style="compact").prompt_style == "compact"  # an explicit choice stays
    with pytest.raises(ValidationError, match="unknown embedded model"):
        ServerConfig(llm="embedded/nope")


def test_lines_are_judged_part_by_part_where_that_measured_best():
    from reward_server.judging.prompts import prompt_version

    assert ServerConfig().decompose is True  # Gemma 3 270M
    assert ServerConfig(llm=SMOLLM2).decompose is False
    assert ServerConfig(llm="hosted_vllm/x").decompose is False
    assert ServerConfig(llm="hosted_vllm/x", decompose=True).decompose is True
    # answers to whole lines and to parts are different questions: stored under different versions
    assert prompt_version("logprob", "default", decompose=True) != prompt_version("logprob", "default")


def test_a_base_model_reads_the_chat_as_plain_text():
    chat = [{"role": "system", "content": "Label these."}, {"role": "user", "content": 'Message: "x"\nHelpful:'}]
    assert render_plain(chat) == 'Label these.\n\nMessage: "x"\nHelpful:'
    [turn] = logprob_messages("x")
    assert render_plain([turn]) == turn["content"]  # a many-shot prompt reaches it verbatim


def test_model_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ONI_MODEL_CACHE", str(tmp_path))
    assert model_cache_dir() == tmp_path
    monkeypatch.delenv("ONI_MODEL_CACHE")
    assert model_cache_dir().name == "oni"


def test_gemma_is_assembled_from_its_chunk_packages_once_and_checked(monkeypatch, tmp_path):
    monkeypatch.setenv("ONI_MODEL_CACHE", str(tmp_path))
    locate = EMBEDDED_MODELS["gemma-3-270m"].locate
    path = locate()
    assert path.parent == tmp_path and path.stat().st_size > 200e6
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no partial file left behind
    modified = path.stat().st_mtime_ns
    assert locate() == path and path.stat().st_mtime_ns == modified  # reused, not rewritten
    path.write_bytes(b"damaged")  # also frees the 250 MB: pytest keeps its last temporary folders
    with pytest.raises(Exception, match="could not assemble|sha256"):
        locate()


@pytest.mark.parametrize(("model", "style"), [(DEFAULT_EMBEDDED_MODEL, "many-shot"), (SMOLLM2, "paper")])
def test_real_embedded_models_answer_with_a_label_word(model, style):
    llama = EmbeddedLlama(embedded_model(model).locate(), n_ctx=2048)
    assert llama.has_chat_template == (model == SMOLLM2)  # Gemma 3 270M is a base model
    gc.collect()
    gc.disable()  # what a judgement leaves for the cyclic GC stays visible until the end
    try:
        top = llama.first_token_logprobs(logprob_messages("You kill the jackal!", style=style), 20)
        assert len(top) == 20 and all(lp <= 0.0 for _, lp in top)
        label_log_odds(top, YES_NO_WORDS)  # raises UnparsableAnswer if neither Yes nor No is among them
        completion = llama.chat([{"role": "user", "content": "NetHack is a"}], max_tokens=4, temperature=0.0)
        assert completion["choices"][0]["message"]["content"]
        # each generation's native sampler chain (MBs with Gemma's vocabulary) is freed at once,
        # not left as a reference cycle: those made the reward server's memory creep (docs/results.md)
        assert [type(o).__name__ for o in gc.get_objects()].count("LlamaSampler") == 0
    finally:
        gc.enable()


@pytest.mark.llm
def test_prompt_style_and_decomposition_reach_the_real_model():
    """Through the server's judge with the real Gemma: the prompt style changes the answer (the
    examples are read), and a decomposed line scores as its best part, not as the whole line."""
    import asyncio

    from reward_server.judging.judge import JudgeConfig, LLMJudge

    async def scores() -> dict[str, float]:
        out = {}
        asks = {"whole": ("It's a wall.  You kill the jackal!", "many-shot", False),
                "parts": ("It's a wall.  You kill the jackal!", "many-shot", True),
                "kill": ("You kill the jackal!", "many-shot", False),
                "wall": ("It's a wall.", "many-shot", False),
                "compact": ("You kill the jackal!", "compact", False)}
        for name, (message, style, decompose) in asks.items():
            judge = LLMJudge(JudgeConfig(llm=DEFAULT_EMBEDDED_MODEL, prompt_style=style, decompose=decompose))
            judgement = await judge.judge(message, "default")
            assert judgement.score is not None
            out[name] = judgement.score
        await judge.aclose()
        return out

    s = asyncio.run(scores())
    assert s["parts"] == pytest.approx(s["kill"], abs=1e-6) and s["parts"] != pytest.approx(s["whole"], abs=1e-3)
    assert s["kill"] > 0 > s["wall"]  # the labelled list was read
    assert s["compact"] != pytest.approx(s["kill"], abs=0.1)  # no examples, another question: another answer


EXIT_SCRIPT = """
from reward_server.judging.embedded_llm import register_embedded_provider
handler = register_embedded_provider()
model = handler.models.get("embedded/gemma-3-270m")
model.first_token_logprobs([{"role": "user", "content": "Is gold good? Answer:"}], 3)
class Holder: pass
holder = Holder(); holder.me = holder; holder.model = model  # a cycle, as a test framework's frames make
del holder, model, handler
import reward_server.judging.embedded_llm as embedded; embedded._registered.clear()
print("judged")
"""


@pytest.mark.llm
def test_a_process_that_loaded_the_model_exits_without_a_traceback():
    """The model is freed before interpreter shutdown tears llama_cpp down, even when it is only
    reachable through a reference cycle (collected after that teardown otherwise)."""
    done = subprocess.run([sys.executable, "-c", EXIT_SCRIPT], capture_output=True, text=True, timeout=300,
                          check=False, env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    assert done.returncode == 0 and "judged" in done.stdout, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr[-3000:]
