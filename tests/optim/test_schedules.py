"""Learning-rate schedules against their formulas."""
import numpy as np
import pytest

from tinygrad_rnn import optim
from tinygrad_rnn.optim import scheduled_lr


@pytest.mark.parametrize("schedule, factors", [  # at progress 0, 0.25, 0.5, 0.7, 0.85, 1
    ("constant", [1, 1, 1, 1, 1, 1]),
    ("linear", [1, 0.75, 0.5, 0.3, 0.15, 0]),
    ("cosine", [1, (1 + 2 ** -0.5) / 2, 0.5, (1 - np.sin(0.2 * np.pi)) / 2,
                (1 - np.cos(0.15 * np.pi)) / 2, 0]),
    ("wsd", [1, 1, 1, 1, 0.5, 0]),
])
def test_lr_schedules_follow_their_formulas(schedule, factors):
    got = [scheduled_lr(schedule, 2e-3, p) for p in (0, 0.25, 0.5, 0.7, 0.85, 1)]
    np.testing.assert_allclose(got, 2e-3 * np.array(factors), rtol=1e-12, atol=1e-18)
    # progress outside [0, 1] (a run that overshoots its time budget) is clipped
    assert scheduled_lr(schedule, 2e-3, 1.2) == scheduled_lr(schedule, 2e-3, 1)
    assert scheduled_lr(schedule, 2e-3, -0.1) == 2e-3


def test_an_unknown_lr_schedule_is_refused():
    with pytest.raises(ValueError, match="lr_schedule must be one of constant, linear, cosine, "
                                         "wsd, got 'step'"):
        scheduled_lr("step", 1e-3, 0.5)


def test_the_schedules_are_the_ones_the_package_offers():
    assert list(optim.LR_SCHEDULES) == ["constant", "linear", "cosine", "wsd"]
