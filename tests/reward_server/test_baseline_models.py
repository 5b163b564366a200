"""The registry and the models beside ONI's: novelty, ELLM-BoW, the offline (frozen) setting,
ranking's evidence cut, in real servers (fake LLM: the tests count what it is asked)."""

import json
import typing

import httpx
import numpy as np
import pytest
from pydantic import ValidationError

from reward_server import ServerConfig
from reward_server.judging.prompts import GOAL_PREFERENCES, calibration_examples
from reward_server.models.ellm_bow import WordVectors, content_words, cosine
from reward_server.models.features import FeatureCache
from reward_server.models.ranking import BradleyTerryModel, Preference
from reward_server.models.registry import REWARD_MODELS
from reward_server.runner import BackgroundServer
from reward_server.service.reward_service import annotation_key
from reward_server.storage.store import Annotation, Store
from tests.conftest import fake_config
from tests.helpers import stats, wait_for

MESSAGES = ["You kill the newt!", "$ - 17 gold pieces.", "It's a wall.", "You see here a dagger.",
            "You collect the gold.", "There is a staircase down here."]


def _post(server, texts):  # type: ignore[no-untyped-def]
    r = httpx.post(server.url + "/v1/messages", json={"messages": [{"text": t} for t in texts]})
    assert r.status_code == 200, r.text
    return r.json()


def _table(server) -> dict[str, float]:  # type: ignore[no-untyped-def]
    return httpx.get(server.url + "/v1/rewards").json()["rewards"]


def _score(server, texts) -> dict[str, float]:  # type: ignore[no-untyped-def]
    rows = httpx.post(server.url + "/v1/score", json={"messages": texts}).json()["scores"]
    return {row["message"]: row["reward"] for row in rows}


def test_the_server_choices_are_the_registry(tmp_path):
    choices = typing.get_args(ServerConfig.model_fields["reward_model"].annotation)
    assert choices == tuple(REWARD_MODELS)
    assert {"retrieval", "classification", "ranking", "novelty", "ellm-bow"} <= set(choices)
    for name in choices:  # each one's help line reaches --help
        assert REWARD_MODELS[name].summary in ServerConfig.model_fields["reward_model"].description
    with pytest.raises(ValidationError, match="novelty"):
        ServerConfig(reward_model="curiosity", store=tmp_path / "s.sqlite")


def test_novelty_pays_every_message_and_asks_the_llm_nothing(fake_llm, tmp_path):
    with BackgroundServer(fake_config(fake_llm, tmp_path / "oni.sqlite", reward_model="novelty")) as server:
        accepted = _post(server, MESSAGES)
        assert accepted["queued"] == 0
        assert wait_for(lambda: len(_table(server)) == len(MESSAGES))
        assert set(_table(server).values()) == {1.0}
        assert _score(server, ["Never seen before."]) == {"Never seen before.": 1.0}
        assert httpx.get(server.url + "/healthz").status_code == 200  # no annotator is not a fault here
        assert stats(server)["reward_model"] == "novelty"
    assert fake_llm.behaviour.requests == 0
    # a restart serves the same table, and a store made by another model is re-rewarded
    with BackgroundServer(fake_config(fake_llm, tmp_path / "oni.sqlite", reward_model="novelty")) as server:
        assert set(_table(server).values()) == {1.0} and len(_table(server)) == len(MESSAGES)
    with BackgroundServer(fake_config(fake_llm, tmp_path / "oni.sqlite", reward_model="retrieval")) as server:
        assert wait_for(lambda: stats(server)["queued"] == 0 and stats(server)["labelled"] == len(MESSAGES))
        table = _table(server)
        assert table["It's a wall."] == 0.0 and table["You kill the newt!"] == 1.0


def test_ellm_bow_words_and_vectors_are_real():
    vectors = WordVectors.shipped()
    assert len(vectors.index) == 400_000 and vectors.matrix.shape == (400_000, 50)
    assert content_words("You kill the newt!  It's a wall.") == ["kill", "newt", "wall"]
    # GloVe knows NetHack's words, and relatives are near
    assert cosine(vectors.embed("gold"), vectors.embed("coins")) > cosine(vectors.embed("gold"), vectors.embed("door"))
    assert not vectors.embed("the of and").any()  # nothing but stop words: no vector


def test_ellm_bow_pays_similarity_to_the_goal_above_its_threshold(fake_llm, tmp_path):
    vectors = WordVectors.shipped()
    goal = vectors.embed(GOAL_PREFERENCES["gold"])
    similarity = {text: cosine(vectors.embed(text), goal) for text in MESSAGES}
    threshold = float(np.median(list(similarity.values())))
    config = fake_config(fake_llm, tmp_path / "oni.sqlite", reward_model="ellm-bow", goal="gold",
                         bow_threshold=threshold)
    with BackgroundServer(config) as server:
        _post(server, MESSAGES)
        assert wait_for(lambda: len(_table(server)) == len(MESSAGES))
        table = _table(server)
        for text in MESSAGES:
            expected = round(similarity[text], 4) if similarity[text] > threshold else 0.0
            assert table[text] == pytest.approx(expected), text
        assert 0 < sum(r > 0 for r in table.values()) < len(MESSAGES)
        assert table["You collect the gold."] > 0 and table["There is a staircase down here."] == 0
        unseen = "You collect more gold and coins."  # any message, seen or not
        assert cosine(vectors.embed(unseen), goal) > threshold
        assert _score(server, [unseen])[unseen] == pytest.approx(round(cosine(vectors.embed(unseen), goal), 4))
    assert fake_llm.behaviour.requests == 0


def test_ellm_bow_sets_its_threshold_from_the_calibration_messages(fake_llm, tmp_path):
    config = fake_config(fake_llm, tmp_path / "oni.sqlite", reward_model="ellm-bow")
    with BackgroundServer(config) as server:
        model = server.service.model
        examples = calibration_examples("default")
        helpful = [model.similarity(t) for t, v in examples if v]
        unhelpful = [model.similarity(t) for t, v in examples if not v]
        assert min(unhelpful) < model.threshold < max(helpful)  # a cut inside the evidence
        assert model.threshold != config.threshold


def test_offline_learns_once_from_imported_labels_and_never_asks(fake_llm, tmp_path):
    store_path = tmp_path / "oni.sqlite"
    config = fake_config(fake_llm, store_path, reward_model="classification", offline=True,
                         train_every=1, train_interval=0.2, preflight=True)  # offline: no preflight question
    labelled = ["You kill the newt!", "You kill the jackal!", "$ - 3 gold pieces.", "$ - 17 gold pieces.",
                "It's a wall.", "It's solid stone.", "That door is closed.", "Never mind.",
                "You see here a dagger.", "The door opens."]
    with Store(store_path) as store:  # what `python -m reward_server import` writes
        store.import_answers(dict.fromkeys(labelled, 0), {annotation_key(config): [
            Annotation(t, None, 3.0 if ("kill" in t or "gold" in t) else -3.0, "") for t in labelled]}, {})
    with BackgroundServer(config) as server:
        assert wait_for(lambda: stats(server).get("model_version") == 1)
        accepted = _post(server, ["You kill the gnome lord!", "$ - 212 gold pieces.", "It's a wall.  It's a wall."])
        assert accepted["queued"] == 0
        assert wait_for(lambda: _table(server).get("You kill the gnome lord!") == 1.0)
        assert _table(server)["It's a wall.  It's a wall."] == 0.0
        s = stats(server)
        assert s["labelled"] == len(labelled) and s["queued"] == 0 and s["judged"] == 0
        assert httpx.get(server.url + "/healthz").status_code == 200
        version = s["model_version"]
        _post(server, [f"You kill the {m}!" for m in ("orc", "dog", "cat", "bat")])
        assert not wait_for(lambda: stats(server)["model_version"] > version, timeout=1.5)  # frozen
    assert fake_llm.behaviour.requests == 0


def _keyword_preferences(texts: list[str]) -> list[Preference]:
    """Every pair, P(first better) from a keyword rule (kills and gold beat the rest)."""
    good = {t: ("kill" in t or "gold" in t) for t in texts}
    return [Preference(a, b, 0.9 if good[a] and not good[b] else 0.1 if good[b] and not good[a] else 0.5)
            for a in texts for b in texts if a != b]


def test_ranking_cuts_where_the_calibration_messages_part():
    texts = ["You kill the newt!", "You kill the jackal!", "$ - 3 gold pieces.", "$ - 17 gold pieces.",
             "It's a wall.", "It's solid stone.", "That door is closed.", "Never mind.", "You see here a dagger.",
             "The door opens.", "You hear a door open.", "What a strange direction!"]
    junk = [f"You see here {n} {item}." for n in range(2, 9) for item in ("arrows", "rocks", "darts")]
    calibration = [("You kill the sewer rat!", 1), ("$ - 42 gold pieces.", 1), ("It's a wall.", 0),
                   ("You see here 3 rocks.", 0), ("The door is locked.", 0), ("Never mind.", 0)]
    evidence = BradleyTerryModel(FeatureCache(), calibration=calibration)
    evidence.features.add(texts + junk)
    assert evidence.fit(_keyword_preferences(texts)) is not None
    paid_evidence = dict(zip(texts + junk, evidence.table(), strict=True))
    helpful = [t for t in texts if "kill" in t or "gold" in t]
    assert all(paid_evidence[t] > 0 for t in helpful)
    assert not any(paid_evidence[t] > 0 for t in paid_evidence if t not in helpful)
    z = dict(zip(texts + junk, evidence.scores(texts + junk), strict=True))
    cut = evidence.params["cut"]
    assert evidence.params["offset"] == cut
    assert all(paid_evidence[t] == pytest.approx(z[t] - cut, abs=1e-3) for t in helpful)  # graded above the cut
    # the cut travels with the checkpoint
    restored = BradleyTerryModel(FeatureCache())
    restored.features.add(texts + junk)
    restored.restore(evidence.state())
    assert restored.table().tolist() == evidence.table().tolist()


def test_a_message_the_store_knows_but_the_table_does_not_is_served_and_asked(fake_llm, tmp_path):
    """Messages can reach the store behind the server's back (another process before the store
    was locked, an import): the server must still publish them, serving their stored labels and
    asking about the rest, instead of treating them as old news."""
    config = fake_config(fake_llm, tmp_path / "oni.sqlite")
    with BackgroundServer(config) as server:
        key = server.service.key

        async def behind_the_back(service):  # type: ignore[no-untyped-def]
            store = service._require_store()
            await service._run(store.add_messages, {"You kill the newt!": 1, "You see here a dagger.": 1})
            await service._run(store.add_annotations, key, [Annotation("You kill the newt!", None, 2.5, "")])

        server.call(behind_the_back)
        accepted = _post(server, ["You kill the newt!", "You see here a dagger."])
        assert accepted["new"] == 0 and accepted["queued"] == 1
        assert wait_for(lambda: _table(server).get("You kill the newt!") == 1.0)
        assert wait_for(lambda: "You see here a dagger." in _table(server) and stats(server)["queued"] == 0)
        assert json.loads(fake_llm.behaviour.questions[-1].split("Message: ")[-1].split("\n")[0]) == "You see here a dagger."
