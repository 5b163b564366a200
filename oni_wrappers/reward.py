"""The ONI reward formula, kept separate from the wrapper so it can be tested and reused."""

from __future__ import annotations


def count_scaled_intrinsic(intrinsic: float, episode_count: int, count_exponent: float) -> float:
    """Intrinsic reward divided by N_episode(message)^beta.

    ``episode_count`` includes the current occurrence, so the first sighting pays in full and
    repeats pay less and less: with beta = 3 the second sighting pays 1/8.
    """
    if episode_count < 1:
        raise ValueError(f"episode_count must be >= 1, got {episode_count}")
    if intrinsic == 0.0:
        return 0.0
    return intrinsic / episode_count**count_exponent


def mix_rewards(
    extrinsic: float,
    intrinsic: float,
    episode_count: int,
    *,
    extrinsic_coef: float,
    intrinsic_coef: float,
    count_exponent: float,
) -> float:
    """``ext_coef * r_ext + int_coef * r_int / N^beta`` as in the ONI paper."""
    return extrinsic_coef * extrinsic + intrinsic_coef * count_scaled_intrinsic(
        intrinsic, episode_count, count_exponent
    )
