"""Fused ops (ops/fused.py): each must agree with its unfused twin, in values and in gradients,
and pass gradcheck on its own."""
import numpy as np
import pytest

from tinygrad_rnn import Tensor, gradcheck
from tinygrad_rnn.ops import CrossEntropy, TanhAddMatMul

from ..helpers import rand
from .checks import value_and_grads


@pytest.mark.parametrize("x_shape", [(3, 4), (4,)])
def test_tanh_add_matmul_equals_its_twin(x_shape):
    arrays = rand(*x_shape, seed=1), rand(3, 5, seed=2), rand(5, 4, seed=3)
    fused, twin = TanhAddMatMul.apply, lambda x, h, w: (x + h @ w).tanh()
    assert gradcheck(fused, [Tensor(a.copy(), requires_grad=True) for a in arrays])
    (yf, gf), (yt, gt) = value_and_grads(fused, arrays), value_and_grads(twin, arrays)
    np.testing.assert_allclose(yf, yt, rtol=1e-14)
    for a, b in zip(gf, gt):
        np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("x_shape", [(3, 4), (4,)])
def test_tanh_add_matmul_writes_into_out_when_given_one(x_shape):
    """The arrays a jit replay's memory plan hands it: y's in forward, dL/dx's in backward."""
    x, h, w = rand(*x_shape, seed=1), rand(3, 5, seed=2), rand(5, 4, seed=3)
    g = rand(3, 4, seed=4)
    results = []
    for out in (None, np.empty((3, 4))):
        ctx = TanhAddMatMul.__new__(TanhAddMatMul)
        ctx.needs_input_grad = (True, True, True)
        y = TanhAddMatMul.forward(ctx, x, h, w, out=out)
        dx_out = None if out is None else np.empty(x_shape)
        grads = TanhAddMatMul.backward(ctx, g, out=dx_out)
        if out is not None:
            assert y is out and (grads[0] is dx_out) == (x_shape == (3, 4))
        results.append((y.copy(), grads[0], grads[1], grads[2].evaluate()))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_tanh_add_matmul_with_a_non_leaf_weight():
    w = Tensor(rand(5, 4, seed=3), requires_grad=True)
    assert gradcheck(lambda x, h, w: TanhAddMatMul.apply(x, h, w * 2.0),
                     [Tensor(rand(3, 4), requires_grad=True), Tensor(rand(3, 5), requires_grad=True), w])


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_equals_its_twin(reduction):
    logits, targets = rand(6, 5, seed=4, low=-3, high=3), np.array([0, 4, 4, 1, 2, 0])
    rows = np.arange(6)

    def twin(a):
        picked = -a.log_softmax(axis=-1)[rows, targets]
        return picked.mean() if reduction == "mean" else picked.sum()

    def fused(a):
        return CrossEntropy.apply(a, targets=targets, reduction=reduction)

    assert gradcheck(fused, [Tensor(logits.copy(), requires_grad=True)])
    (yf, gf), (yt, gt) = value_and_grads(fused, [logits]), value_and_grads(twin, [logits])
    np.testing.assert_allclose(yf, yt, rtol=1e-13)
    np.testing.assert_allclose(gf[0], gt[0], rtol=1e-12, atol=1e-15)
