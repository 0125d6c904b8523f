"""schedule.agrees: the compile-time check of every rewritten op's value against the trace."""
import numpy as np
import pytest

from tinygrad_rnn.schedule import agrees


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_another_summation_order_agrees_a_different_value_does_not(dtype):
    rng = np.random.default_rng(0)
    x, h, U, b = (rng.normal(size=s).astype(dtype) for s in [(8, 64), (8, 64), (64, 64), (64,)])
    traced = (x + h @ U) + b
    assert agrees((x + b) + h @ U, traced)
    assert agrees(np.concatenate([h, h]) @ U, np.concatenate([h @ U, h @ U]))  # one GEMM, two
    wrong = traced.copy()
    wrong[3, 5] += 1e-2 * np.abs(traced).max()  # one element off by 1 % of the scale
    assert not agrees(wrong, traced)
    assert not agrees(x + h @ U, traced)  # the bias forgotten


def test_shape_dtype_integers_and_nan():
    a = np.arange(6.0).reshape(2, 3)
    assert not agrees(a.reshape(3, 2), a)
    assert not agrees(a.astype(np.float32), a)
    assert agrees(np.arange(4), np.arange(4)) and not agrees(np.arange(4) + 1, np.arange(4))
    assert agrees(np.array([np.nan, 1.0]), np.array([np.nan, 1.0]))
    assert not agrees(np.array([np.nan, 1.0]), np.array([0.0, 1.0]))
