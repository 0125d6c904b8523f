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


def _recurrence(W, h, steps):
    for _ in range(steps):
        h = (h @ W).tanh()
    return h.sum()


def _recurrence_dh(W, h, steps):
    """dL/dh of _recurrence by hand: dz_t = g_t (1 - h_t^2), g_{t-1} = dz_t W^T."""
    hs = [h]
    for _ in range(steps):
        hs.append(np.tanh(hs[-1] @ W))
    g = np.ones_like(h)
    for y in reversed(hs[1:]):
        g = (g * (1 - y * y)) @ W.T
    return g


def test_a_walk_reuses_one_contiguous_transpose_and_forgets_it_at_its_end(monkeypatch):
    """dL/dh = g W^T at every step: W^T is the view once, then one contiguous copy for the rest
    of the walk; a second walk after an in-place change of W copies the new W, and its gradient
    is the new W's (BPTT by hand)."""
    from tinygrad_rnn.ops import matmul
    copies = []
    real = np.ascontiguousarray
    monkeypatch.setattr(matmul.np, "ascontiguousarray", lambda a: copies.append(a.base) or real(a))
    W = Tensor(rand(4, 4, seed=7), requires_grad=True)
    h = Tensor(rand(3, 4, seed=8), requires_grad=True)
    _recurrence(W, h, 5).backward()
    assert [c is W.data for c in copies] == [True], "one copy of W^T, of W itself, in one walk"
    W.data *= 0.5  # what an optimizer step does between walks
    W.grad = h.grad = None
    _recurrence(W, h, 5).backward()
    assert len(copies) == 2, "the second walk makes its own copy"
    np.testing.assert_allclose(h.grad, _recurrence_dh(W.data, h.data, 5), rtol=1e-12, atol=1e-14)


def test_transposed_outside_a_walk_is_the_view():
    from tinygrad_rnn.ops.matmul import transposed
    W = rand(3, 5, seed=9)
    assert transposed(W).base is W and transposed(W).base is W
