"""The ONI count-scaled intrinsic reward, in one place: the wrapper pays with it.

Example:
    >>> count_scaled_intrinsic(1.0, 1, 3.0)  # a message's first sighting pays in full
    1.0
    >>> count_scaled_intrinsic(1.0, 2, 3.0)  # the second pays 1/2**3
    0.125
"""

from __future__ import annotations

from typing import Literal

#: what N(message) counts: its sightings in the current episode, or in every episode the env ran
CountScope = Literal["episode", "run"]


def count_scaled_intrinsic(intrinsic: float, count: int, count_exponent: float) -> float:
    """Intrinsic reward divided by N(message)^beta.

    ``count`` includes the current occurrence, so the first sighting pays in full and repeats
    pay less and less: with beta = 3 the second sighting pays 1/8, which is what stops an agent
    from farming one rewarded message within an episode. What N counts (this episode's
    sightings, or the env's whole run) is the wrapper's ``count_scope``.
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    return intrinsic / count**count_exponent
