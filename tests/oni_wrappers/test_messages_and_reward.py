import numpy as np
import pytest

from oni_wrappers.messages import MessageDecoder, decode_message_bytes, normalize_message
from oni_wrappers.reward import count_scaled_intrinsic


def nle_array(raw: bytes) -> np.ndarray:
    buf = np.zeros(256, dtype=np.uint8)
    buf[: len(raw)] = np.frombuffer(raw, dtype=np.uint8)
    return buf


def test_decode_stops_at_first_nul_and_ignores_stale_bytes():
    assert decode_message_bytes(b"You kill the newt!\0\0stale text\0") == "You kill the newt!"


def test_decode_replaces_invalid_utf8_instead_of_raising():
    text = decode_message_bytes(b"Hello \xff\xfe world\0")
    assert text == "Hello \ufffd\ufffd world"


def test_decode_empty_and_all_nul():
    assert decode_message_bytes(b"") == ""
    assert decode_message_bytes(b"\0" * 256) == ""


def test_normalize_strips_padding_keeps_inner_spacing():
    assert normalize_message("What do you want to eat? [gij or ?*] ") == "What do you want to eat? [gij or ?*]"
    assert normalize_message("You kill it!  It's a wall.") == "You kill it!  It's a wall."


def test_decoder_caches_and_matches_plain_decoding():
    decoder = MessageDecoder()
    arr = nle_array(b"5 gold pieces.")
    assert decoder.decode(arr) == "5 gold pieces."
    assert decoder.decode(arr.copy()) == "5 gold pieces."
    assert decoder.decode(nle_array(b"\xc3\xa9t\xe9")) == "\u00e9t\ufffd"


def test_decoder_bounded_cache():
    decoder = MessageDecoder(max_cached=2)
    for i in range(5):
        assert decoder.decode(nle_array(f"m{i}".encode())) == f"m{i}"
    assert len(decoder) <= 2


@pytest.mark.parametrize(
    ("count", "beta", "expected"),
    [(1, 3.0, 1.0), (2, 3.0, 1 / 8), (3, 3.0, 1 / 27), (4, 0.0, 1.0), (2, 1.0, 0.5)],
)
def test_count_scaling(count, beta, expected):
    assert count_scaled_intrinsic(1.0, count, beta) == pytest.approx(expected)


@pytest.mark.parametrize(("paid_episodes", "gamma", "expected"), [(0, 0.5, 1 / 8), (3, 0.5, 1 / 16), (3, 0.0, 1 / 8)])
def test_cross_episode_decay_multiplies_the_episodic_scaling(paid_episodes, gamma, expected):
    assert count_scaled_intrinsic(1.0, 2, 3.0, paid_episodes, gamma) == pytest.approx(expected)


def test_count_scaling_rejects_a_zero_count():
    with pytest.raises(ValueError, match="episode_count"):
        count_scaled_intrinsic(1.0, 0, 3.0)


def test_the_formula_module_examples_hold():
    import doctest

    import oni_wrappers.reward

    assert doctest.testmod(oni_wrappers.reward).failed == 0


def test_the_server_side_needs_no_gymnasium():
    """The server imports the message normalisation only: the wrapper package stays unloaded."""
    import subprocess
    import sys

    code = ("import sys, oni_wrappers.messages; from oni_wrappers import normalize_message; "
            "print('gymnasium' in sys.modules, 'httpx' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False).stdout.split() == [
        "False", "False"]
