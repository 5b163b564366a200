"""The ONI count-scaled intrinsic reward, in one place: the wrapper pays with it.

Example:
    >>> count_scaled_intrinsic(1.0, 1, 3.0)  # a message's first sighting in the episode pays in full
    1.0
    >>> count_scaled_intrinsic(1.0, 2, 3.0)  # the second pays 1/2**3
    0.125
    >>> count_scaled_intrinsic(1.0, 1, 3.0, paid_episodes=3, cross_episode_exponent=0.5)  # paid in 3 earlier episodes
    0.5
"""

from __future__ import annotations


def count_scaled_intrinsic(intrinsic: float, episode_count: int, count_exponent: float,
                           paid_episodes: int = 0, cross_episode_exponent: float = 0.0) -> float:
    """Intrinsic reward divided by ``N_episode(message)^beta * (1 + E(message))^gamma``.

    ``episode_count`` includes the current occurrence, so the first sighting in an episode pays in
    full and repeats pay less and less: with beta = 3 the second sighting pays 1/8, which is what
    stops an agent from farming one rewarded message within an episode. ``paid_episodes`` (E) is
    how many earlier episodes of the env paid the message; with gamma = 0 (the paper's) every
    episode pays it afresh, with gamma > 0 a message paid episode after episode pays less and
    less, which stops an agent from farming it across short episodes. Called on every paid step,
    so gamma is checked once, by the wrapper, not here.
    """
    if episode_count < 1:
        raise ValueError(f"episode_count must be >= 1, got {episode_count}")
    scaled = intrinsic / episode_count**count_exponent
    return scaled / (1 + paid_episodes) ** cross_episode_exponent if paid_episodes else scaled
