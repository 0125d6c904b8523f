"""Reductions (ops/reduce.py): sum, mean and max over any axes, with and without keepdims."""
import numpy as np
import pytest

from tinygrad_rnn import Tensor

from ..helpers import rand
from .checks import check


@pytest.mark.parametrize("axis", [0, 1, -1, None, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("name", ["sum", "mean", "max"])
def test_reductions(axis, keepdims, name):
    a = rand(2, 3, 4, seed=5)
    check(lambda t: getattr(t, name)(axis=axis, keepdims=keepdims),
          lambda x: getattr(np, name)(x, axis=axis, keepdims=keepdims), a)


def test_max_ties_share_the_gradient():
    t = Tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, -1.0]]), requires_grad=True)
    t.max(axis=1).sum().backward()
    np.testing.assert_array_equal(t.grad, [[0, 0.5, 0.5], [1, 0, 0]])
