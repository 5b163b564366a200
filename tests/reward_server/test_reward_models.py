"""The learned reward models as plain objects: features, classification, Bradley–Terry ranking."""

import random

import numpy as np
import pytest

from reward_server.judging.parsing import UnparsableAnswer, parse_preference
from reward_server.judging.prompts import ranking_messages, ranking_prompt, ranking_prompt_version
from reward_server.models.classification import ClassificationModel, heldout_balanced_accuracy
from reward_server.models.features import FeatureCache, message_family
from reward_server.models.pairs import PairSampler
from reward_server.models.ranking import BradleyTerryModel, Preference, debiased_preferences
from reward_server.storage.store import StoredPreference

# best first: the order the synthetic judge below holds
KNOWN_ORDER = [
    "You kill the goblin!  Welcome to experience level 4.",
    "There is a staircase down here.",
    "$ - 12 gold pieces.",
    "You see here a dagger.",
    "The kitten picks up a scroll.",
    "You swap places with your kitten.",
    "What a strange direction!",
    "It's a wall.",
]


def test_message_family_masks_digits_and_keeps_the_template_head():
    assert message_family("$ - 12 gold pieces.") == message_family("$ - 3 gold pieces.")
    assert message_family("You kill the newt!") == message_family("You kill the gnome lord!")
    assert message_family("You kill the newt!") != message_family("It's a wall.")


def test_feature_cache_appends_rows_in_arrival_order():
    cache = FeatureCache(n_features=2**10)
    assert cache.add(["a b", "c d", "a b"]) == ["a b", "c d"]
    assert cache.add(["c d", "e f"]) == ["e f"]
    assert cache.texts == ["a b", "c d", "e f"] and cache.matrix().shape == (3, 2 * 2**10)  # words + chars
    np.testing.assert_allclose(cache.rows(["e f"]).toarray(), cache.encode(["e f"]).toarray())


def test_ranking_recovers_a_known_order_exactly():
    rng = random.Random(0)
    preferences = []
    for i, better in enumerate(KNOWN_ORDER):
        for worse in KNOWN_ORDER[i + 1 :]:
            # asked in random order, as the sampler does
            pref = Preference(better, worse, 1.0) if rng.random() < 0.5 else Preference(worse, better, 0.0)
            preferences.append(pref)
    model = BradleyTerryModel(FeatureCache(), rank_threshold=0.5)
    report = model.fit(preferences)
    assert report is not None and report.train_accuracy == 1.0
    z = model.scores(KNOWN_ORDER)
    assert z is not None
    assert sorted(KNOWN_ORDER, key=lambda m: -z[KNOWN_ORDER.index(m)]) == KNOWN_ORDER
    served = model.rewards(KNOWN_ORDER)
    assert served[0] > 0 and served[-1] == 0.0  # the best pays, the worst does not
    table = dict(zip(model.features.texts, model.table(), strict=True))
    assert [table[m] for m in KNOWN_ORDER] == served  # the cached table agrees with scoring afresh


def test_ranking_with_only_ties_does_not_fit():
    model = BradleyTerryModel(FeatureCache())
    assert model.fit([Preference("a", "b", 0.5), Preference("c", "d", 0.5)]) is None
    assert not model.fitted and model.rewards(["a"]) == [0.0]


def test_position_bias_is_removed_before_fitting():
    """A judge that says "1" to everything, a bit more when the first really is better."""
    rng = random.Random(1)
    stored = []
    for _ in range(200):
        a, b = rng.sample(KNOWN_ORDER, 2)
        first_better = KNOWN_ORDER.index(a) < KNOWN_ORDER.index(b)
        score = 1.5 + (0.4 if first_better else -0.4) + rng.uniform(-0.3, 0.3)
        stored.append(StoredPreference(a, b, None, score, "raw"))
    raw_p = [1 / (1 + np.exp(-p.score)) for p in stored]
    assert min(raw_p) > 0.5  # as given, every answer prefers the first message
    debiased = debiased_preferences(stored)
    right = [(p.p_first > 0.5) == (KNOWN_ORDER.index(p.first) < KNOWN_ORDER.index(p.second)) for p in debiased]
    assert all(right)
    # a stated tie (generate mode) stays a tie; unparsable answers are dropped
    kept = debiased_preferences([StoredPreference("a", "b", None, 0.0, "None"), StoredPreference("a", "c", None, None, "?")])
    assert [p.p_first for p in kept] == [0.5]


def test_pair_sampler_never_pairs_a_message_with_itself_and_randomises_order():
    sampler = PairSampler(pairs_per_message=4, seed=0)
    sampler.observe(["only"])
    assert sampler.pairs_for(["only"]) == []  # nothing to compare with yet
    sampler.observe(KNOWN_ORDER)
    pairs = sampler.pairs_for(KNOWN_ORDER)
    assert len(pairs) == 4 * len(KNOWN_ORDER)
    assert all(a != b for a, b in pairs)
    firsts = sum(a == KNOWN_ORDER[0] for a, b in pairs if KNOWN_ORDER[0] in (a, b))
    assert 0 < firsts < sum(KNOWN_ORDER[0] in p for p in pairs)
    assert sampler.pairs_for(["x"], missing={"x": 0}) == []


def test_heldout_accuracy_of_a_constant_predictor_is_one_half():
    words = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta", "iota", "kappa"]
    texts = [f"{word} says {j}" for word in words for j in range(3)]
    y = np.array([i % 2 for i in range(10) for _ in range(3)])
    cache = FeatureCache(n_features=2**10)
    cache.add(texts)

    class Constant:
        def fit(self, x, y):
            return self

        def predict(self, x):
            return np.ones(x.shape[0], dtype=int)

    groups = [message_family(t) for t in texts]
    assert heldout_balanced_accuracy(cache.matrix(), y, groups, Constant) == 0.5
    assert heldout_balanced_accuracy(cache.matrix(), np.zeros(30, dtype=int), groups, Constant) is None


def test_classifier_checkpoint_restores_the_same_rewards():
    labels = {m: int(i < 3) for i, m in enumerate(KNOWN_ORDER)}
    model = ClassificationModel(FeatureCache())
    assert model.fit(labels) is not None and model.version == 1
    restored = ClassificationModel(FeatureCache())
    restored.restore(model.state())
    assert restored.version == 1
    assert restored.rewards(KNOWN_ORDER) == model.rewards(KNOWN_ORDER)
    assert model.rewards(KNOWN_ORDER) == [float(labels[m]) for m in KNOWN_ORDER]  # it fits its labels
    assert ClassificationModel(FeatureCache()).fit({"a": 1, "b": 1}) is None  # one class: no fit


@pytest.mark.parametrize(
    ("answer", "verdict"),
    [
        ("<analysis>x</analysis><preference> 2 </preference>", 2),
        ("<preference>Message 1</preference>", 1),
        ("<preference>None</preference>", None),
        ("I think the second. <preference>2", 2),
        ("Message 1 is better, so: 1", 1),
    ],
)
def test_parse_preference(answer, verdict):
    assert parse_preference(answer) == verdict


@pytest.mark.parametrize("answer", ["", "I cannot decide.", "<preference>1 or 2</preference>", "3.5 apples"])
def test_unparsable_preferences(answer):
    with pytest.raises(UnparsableAnswer):
        parse_preference(answer)


def test_ranking_prompts_quote_both_messages_and_version_with_the_template():
    chat = ranking_messages('He said "1"', "It's a wall.", "default", style="paper")
    assert chat[-1]["content"].endswith('Message 1: "He said \\"1\\""\nMessage 2: "It\'s a wall."')
    assert chat[2]["content"] == "2"  # the worked example: a kill beats a wall under the default goal
    assert '"x"' in ranking_prompt("x", "y") and "<preference>" in ranking_prompt("x", "y")
    assert ranking_prompt_version("logprob", "default") != ranking_prompt_version("logprob", "stairs")
    assert ranking_prompt_version("logprob", "default") != ranking_prompt_version("generate", "default")
    assert ranking_prompt_version("logprob", "default") != ranking_prompt_version("logprob", "default", "paper")


def test_many_shot_ranking_prompt_pairs_helpful_with_unhelpful_examples():
    [turn] = ranking_messages('He said "1"', "It's a wall.", "default")
    blocks = turn["content"].split("\n\n")
    assert "which one shows more progress" in blocks[0]
    assert blocks[-1] == 'Message 1: "He said \\"1\\""\nMessage 2: "It\'s a wall."\nMore progress:'
    answers = [block.rsplit("More progress: ", 1)[1] for block in blocks[1:-1]]
    assert len(answers) == 16  # every helpful example of the default goal, each against an unhelpful one
    assert answers == ["12"[i % 2] for i in range(16)]  # the helpful one alternates position
    first_pair = blocks[1].split("\n")
    assert first_pair[0] == 'Message 1: "You kill the coyote!"'  # the list's first helpful example


def test_the_feature_cache_is_bounded_and_the_trainer_stays_aligned():
    """Beyond its cap the cache drops its oldest rows; rows asked for again are encoded anew, and
    the table the model serves stays aligned with the cached messages."""
    cache = FeatureCache(n_features=2**10, max_rows=100)
    texts = [f"You see here {i} arrows of kind {i % 7}." for i in range(250)]
    for start in range(0, 250, 25):
        cache.add(texts[start:start + 25])
    assert len(cache) <= 100 and cache.offset == 250 - len(cache)
    assert cache.texts == texts[cache.offset:]
    np.testing.assert_allclose(cache.rows([texts[0], texts[-1]]).toarray(),  # the first was dropped
                               cache.encode([texts[0], texts[-1]]).toarray())
