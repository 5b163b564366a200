"""``minihack_messages --probe``: what MiniHack pays for a command, as the results quote it."""

import pytest

from benchmarks.minihack_messages import probe


def test_a_pickup_with_nothing_to_pick_up_costs_a_step_and_sitting_does_not():
    steps = probe("MiniHack-LavaCross-Levitate-Potion-Inv-Full-v0", ["LOOK", "SIT", "PICKUP"])
    assert [(name, reward) for name, reward, _ in steps] == [("LOOK", -0.01), ("SIT", 0.0), ("PICKUP", -0.01)]
    assert steps[0][2] == "There is a staircase up here." and steps[1][2] == "You sit on the stairs."
    with pytest.raises(SystemExit, match="no action 'LOOK'"):
        probe("MiniHack-KeyRoom-S15-v0", ["LOOK"])
