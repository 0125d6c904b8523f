"""Extreme but valid inputs: every op's value and gradient stay finite wherever the exact result
is finite (and representable), in float32 and float64. A NaN born in one op is passed on by every
op after it, so the property is checked op by op, with hypothesis hunting for the bad corner."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_rnn import Tensor
from tinygrad_rnn.nn import cross_entropy
from tinygrad_rnn.nn.functional import nll_loss
from tinygrad_rnn.ops import TanhAddMatMul

DTYPES = [np.float32, np.float64]
SHAPES = hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6)


def arrays(dtype, low, high, extremes=(), shape=SHAPES):
    """Arrays of `dtype` in [low, high], with the `extremes` drawn often, not by luck."""
    elements = st.floats(low, high, width=np.finfo(dtype).bits)
    if extremes:
        elements = st.one_of(st.sampled_from(extremes), elements)
    return hnp.arrays(dtype, shape, elements=elements)


def value_and_grad(op, a):
    """op(a) and the gradient of a random weighting of its outputs (so every output counts)."""
    t = Tensor(a, requires_grad=True)
    y = op(t)
    weights = np.random.default_rng(0).uniform(-1, 1, y.shape).astype(a.dtype)
    (y * Tensor(weights)).sum().backward()
    return y.data, t.grad, weights


def finite(*arrays):
    return all(np.isfinite(a).all() for a in arrays)


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_log_softmax_of_huge_logits(dtype, data):
    a = data.draw(arrays(dtype, -1e4, 1e4, extremes=(-1e4, 1e4, 0.0)))
    y, grad, w = value_and_grad(lambda t: t.log_softmax(axis=-1), a)
    assert y.dtype == dtype and grad.dtype == dtype
    assert finite(y, grad) and (y <= 0).all()
    np.testing.assert_allclose(np.exp(y.astype(np.float64)).sum(-1), 1, rtol=1e-5)
    # dL/da = w - softmax(a) sum(w): its rows sum to zero whatever the logits
    assert (np.abs(grad.sum(-1)) <= 1e-5 * (1 + np.abs(w).sum(-1))).all()


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_cross_entropy_of_huge_logits(dtype, data):
    logits = data.draw(arrays(dtype, -1e4, 1e4, extremes=(-1e4, 1e4, 0.0)))
    n, c = logits.shape
    targets = data.draw(hnp.arrays(np.int64, n, elements=st.integers(0, c - 1)))
    fused = Tensor(logits, requires_grad=True)
    composite = Tensor(logits, requires_grad=True)
    loss = cross_entropy(fused, targets)
    twin = nll_loss(composite.log_softmax(axis=-1), targets)
    loss.backward()
    twin.backward()

    z = logits.astype(np.float64)  # the exact loss, from the same inputs in float64
    m = z.max(-1)
    exact = np.mean(m + np.log(np.exp(z - m[:, None]).sum(-1)) - z[np.arange(n), targets])
    rtol, atol = (1e-4, 1e-2) if dtype == np.float32 else (1e-10, 1e-8)
    assert loss.dtype == dtype and fused.grad.dtype == dtype
    assert finite(loss.data, fused.grad, twin.data, composite.grad)
    np.testing.assert_allclose([loss.item(), twin.item()], exact, rtol=rtol, atol=atol)
    np.testing.assert_allclose(fused.grad, composite.grad, rtol=rtol, atol=1e-6)
    g = fused.grad.astype(np.float64) * n  # softmax - onehot: in [-1, 1], rows summing to 0
    assert (np.abs(g) <= 1 + 1e-6).all()
    np.testing.assert_allclose(g.sum(-1), 0, atol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_tanh_and_sigmoid_saturate_over_the_whole_float_range(dtype, data):
    big = float(np.finfo(dtype).max)
    a = data.draw(arrays(dtype, -big, big, extremes=(-big, big, -1e4, 1e4, -20.0, 20.0, 0.0)))
    y, grad, w = value_and_grad(lambda t: t.tanh(), a)
    assert finite(y, grad) and (np.abs(y) <= 1).all() and y.dtype == dtype
    assert (np.abs(grad) <= np.abs(w)).all()  # |d tanh/da| = 1 - y^2 <= 1
    y, grad, w = value_and_grad(lambda t: t.sigmoid(), a)
    assert finite(y, grad) and ((0 <= y) & (y <= 1)).all() and y.dtype == dtype
    assert (np.abs(grad) <= 0.25 * np.abs(w) + 1e-7).all()  # y (1 - y) <= 1/4


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_exp_overflows_to_inf_as_numpy_does_and_is_finite_below(dtype, data):
    big = float(np.finfo(dtype).max)
    limit = float(np.log(np.finfo(dtype).max))  # exp(limit) is the largest finite value
    a = data.draw(arrays(dtype, -big, big, extremes=(-big, big, limit, -limit, 1e4, -1e4)))
    # numpy's own semantics: an overflow is inf, not an error (and a sum of infs is NaN)
    with np.errstate(over="ignore", invalid="ignore"):
        y, grad, w = value_and_grad(lambda t: t.exp(), a)
        expected = np.exp(a)
    np.testing.assert_array_equal(y, expected)
    below = np.isfinite(expected)
    assert np.isfinite(grad[below]).all()
    np.testing.assert_allclose(grad[below], (w * expected)[below], rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_log_is_finite_from_the_smallest_normal_to_the_largest_float(dtype, data):
    info = np.finfo(dtype)
    tiny, big = float(info.smallest_normal), float(info.max)
    a = data.draw(arrays(dtype, tiny, big, extremes=(tiny, big, 1.0)))
    y, grad, _ = value_and_grad(lambda t: t.log(), a)
    assert finite(y, grad) and y.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_the_fused_rnn_step_saturates_instead_of_overflowing(dtype, data):
    """h' = tanh(x + h W) with pre-activations of +-1e4: a saturated RNN, as a too-high learning
    rate leaves it. Values in [-1, 1] and finite gradients, like its unfused twin's."""
    b, hidden = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 5))
    x = data.draw(arrays(dtype, -1e4, 1e4, extremes=(-1e4, 1e4), shape=(b, hidden)))
    h = data.draw(arrays(dtype, -1, 1, extremes=(-1.0, 1.0), shape=(b, hidden)))
    W = data.draw(arrays(dtype, -1e3, 1e3, extremes=(-1e3, 1e3), shape=(hidden, hidden)))
    fused = [Tensor(v, requires_grad=True) for v in (x, h, W)]
    plain = [Tensor(v, requires_grad=True) for v in (x, h, W)]
    y = TanhAddMatMul.apply(*fused)
    twin = (plain[0] + plain[1] @ plain[2]).tanh()
    y.sum().backward()
    twin.sum().backward()
    assert finite(y.data, *(t.grad for t in fused)) and (np.abs(y.data) <= 1).all()
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(y.data, twin.data, rtol=rtol, atol=rtol)
    for a, b_ in zip(fused, plain):
        np.testing.assert_allclose(a.grad, b_.grad, rtol=rtol, atol=rtol * 1e3)
