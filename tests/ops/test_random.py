"""Dropout (ops/random.py): its gradient against finite differences under a fixed mask, and the
statistics of its masks."""
import numpy as np
import pytest

from tinygrad_rnn import Tensor, gradcheck
from tinygrad_rnn.ops import Dropout

from ..helpers import rand


def fixed_mask(p, seed=0):
    """Dropout that draws the same mask at every call (a new generator from one seed each time),
    so finite differences see a smooth function."""
    return lambda x: Dropout.apply(x, p=p, rng=np.random.default_rng(seed))


@pytest.mark.parametrize("p", [0.0, 0.3, 0.9, 1.0])
def test_gradient_matches_finite_differences(p):
    assert gradcheck(fixed_mask(p), [Tensor(rand(5, 7), requires_grad=True)])


def test_kept_elements_are_scaled_and_the_rest_are_zero():
    x = rand(200, 50, low=1.0, high=2.0)  # no zeros of its own
    y = fixed_mask(0.25)(Tensor(x)).data
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / 0.75, rtol=1e-15)
    assert abs(kept.mean() - 0.75) < 0.01  # 10,000 draws: the standard error is 0.0043


def test_the_gradient_passes_where_the_input_did():
    x = Tensor(rand(40, 30), requires_grad=True)
    y = fixed_mask(0.5)(x)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, (y.data != 0) / 0.5)


def test_each_call_draws_a_new_mask_and_a_seed_repeats_them():
    x = Tensor(np.ones((30, 30)))
    first, second = (np.random.default_rng(7) for _ in range(2))
    a, b = Dropout.apply(x, p=0.5, rng=first).data, Dropout.apply(x, p=0.5, rng=first).data
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(Dropout.apply(x, p=0.5, rng=second).data, a)


def test_p_zero_is_the_identity_and_p_one_drops_everything():
    x = Tensor(rand(4, 6))
    np.testing.assert_array_equal(fixed_mask(0.0)(x).data, x.data)
    np.testing.assert_array_equal(fixed_mask(1.0)(x).data, np.zeros((4, 6)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_keeps_the_dtype(dtype):
    x = Tensor(rand(3, 4).astype(dtype), requires_grad=True)
    y = fixed_mask(0.5)(x)
    y.sum().backward()
    assert y.dtype == dtype and x.grad.dtype == dtype
