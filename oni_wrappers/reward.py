"""The ONI count-scaled intrinsic reward, in one place: the wrapper pays with it.

Example:
    >>> count_scaled_intrinsic(1.0, 1, 3.0)  # a message's first sighting in the episode pays in full
    1.0
    >>> count_scaled_intrinsic(1.0, 2, 3.0)  # the second pays 1/2**3
    0.125
"""

from __future__ import annotations


def count_scaled_intrinsic(intrinsic: float, episode_count: int, count_exponent: float) -> float:
    """Intrinsic reward divided by N_episode(message)^beta.

    ``episode_count`` includes the current occurrence, so the first sighting pays in full and
    repeats pay less and less: with beta = 3 the second sighting pays 1/8, which is what stops an
    agent from farming one rewarded message within an episode.
    """
    if episode_count < 1:
        raise ValueError(f"episode_count must be >= 1, got {episode_count}")
    return intrinsic / episode_count**count_exponent
