"""The matrix product (ops/matmul.py): numpy's rules for 1-D and batched operands, and a
weight's deferred gradient terms, whatever mix of ranks they come from."""
import numpy as np
import pytest

from tinygrad_rnn import Tensor, gradcheck
from tinygrad_rnn.ops import MatMulWeightGrad

from ..helpers import rand
from .checks import check


@pytest.mark.parametrize("sa,sb", [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)),
                                   ((5, 2, 3), (3, 4)), ((5, 2, 3), (5, 3, 4)), ((2, 3), (5, 3, 4)),
                                   ((1, 2, 3), (4, 3, 2)), ((2, 1, 2, 3), (3, 3, 1))])
def test_matmul_numpy_rules(sa, sb):
    check(lambda x, y: x @ y, np.matmul, rand(*sa, seed=1), rand(*sb, seed=2))


def test_shape_errors_name_op_and_shapes():
    with pytest.raises(ValueError) as err:
        Tensor(np.ones((3, 4))) @ Tensor(np.ones((5, 6)))
    msg = str(err.value)
    assert msg.startswith("MatMul:") and "(3, 4)" in msg and "(5, 6)" in msg


def test_weight_gradient_terms_of_mixed_rank():
    """One weight used by a 3-D and a 2-D input: its deferred terms have rows of both ranks."""
    x3, x2 = Tensor(rand(2, 3, 4, seed=4)), Tensor(rand(5, 4, seed=5))
    w = Tensor(rand(4, 2, seed=6), requires_grad=True)
    assert gradcheck(lambda w: (x3 @ w).sum() + (x2 @ w * x2[:, :2]).sum(), [w])
    assert gradcheck(lambda w: (x2 @ w).sum() + (x3 @ w).tanh().sum(), [w])  # the other order


def test_a_weight_gradient_joins_its_terms_in_the_order_the_forward_made_them():
    a = [rand(2, 3, seed=i) for i in range(3)]
    g = [rand(2, 4, seed=10 + i) for i in range(3)]
    total = MatMulWeightGrad(a[2], g[2])  # the walk meets the last step first
    for x, y in zip(a[1::-1], g[1::-1]):
        assert total.merge(MatMulWeightGrad(x, y))
    joined_a, joined_g = total.joins()  # what evaluate joins, and jit's memory plan lays out
    assert all(x is y for x, y in zip(joined_a, a)) and all(x is y for x, y in zip(joined_g, g))
    np.testing.assert_allclose(total.evaluate(), sum(x.T @ y for x, y in zip(a, g)))
