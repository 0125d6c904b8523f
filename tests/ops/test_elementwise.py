"""Elementwise ops (ops/elementwise.py): broadcasting arithmetic, functions of one input,
log_softmax; forward against numpy, gradients against finite differences."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_rnn import Tensor, ops

from ..helpers import rand
from .checks import check

shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)
broadcastable_pairs = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div"])
@given(pair=broadcastable_pairs, seed=st.integers(0, 2**16))
def test_binary_ops_broadcast(name, pair, seed):
    sa, sb = pair.input_shapes
    a, b = rand(*sa, seed=seed), rand(*sb, seed=seed + 1, low=0.5, high=2.0)
    op = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y,
          "mul": lambda x, y: x * y, "div": lambda x, y: x / y}[name]
    check(op, op, a, b)


@pytest.mark.parametrize("op", [
    lambda t: -t, lambda t: t ** 3, lambda t: t ** 0.5, lambda t: t.exp(), lambda t: t.log(),
    lambda t: t.tanh(), lambda t: t.sigmoid(), lambda t: t.sqrt()])
@given(shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4),
       seed=st.integers(0, 2**16))
def test_unary_ops(op, shape, seed):  # 0-d too: numpy gives a number where an array may be due
    a = rand(*shape, seed=seed, low=0.2, high=2.0)  # log, sqrt and ** 0.5 need positive inputs
    np_op = lambda x: op(Tensor(x)).data  # noqa: E731  (forward covered by test_unary_forward)
    check(op, np_op, a)


def test_unary_forward_matches_numpy():
    a = rand(3, 4, low=0.2)
    t = Tensor(a)
    for got, want in [((-t).data, -a), ((t ** 3).data, a ** 3), (t.exp().data, np.exp(a)),
                      (t.log().data, np.log(a)), (t.tanh().data, np.tanh(a)),
                      (t.sigmoid().data, 1 / (1 + np.exp(-a))), (t.relu().data, np.maximum(a, 0)),
                      (t.sqrt().data, np.sqrt(a))]:
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_relu_gradient_away_from_kink():
    a = rand(4, 5, seed=3)
    a[np.abs(a) < 0.1] = 0.5  # finite differences are meaningless at the kink
    check(lambda t: t.relu(), lambda x: np.maximum(x, 0), a)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_log_softmax_and_softmax(axis):
    a = rand(3, 4, seed=7, low=-5, high=5)

    def np_log_softmax(x):
        return x - np.log(np.exp(x).sum(axis=axis, keepdims=True))

    check(lambda t: t.log_softmax(axis), np_log_softmax, a)
    check(lambda t: t.softmax(axis), lambda x: np.exp(np_log_softmax(x)), a)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_softmax_is_stable(dtype):
    t = Tensor(np.array([1000.0, 2000.0, 3000.0], dtype=dtype), requires_grad=True)
    y = t.log_softmax()
    assert np.all(np.isfinite(y.data)) and y.dtype == dtype
    np.testing.assert_allclose(y.data, [-2000, -1000, 0])
    y.softmax().sum().backward()
    assert np.all(np.isfinite(t.grad))


@pytest.mark.parametrize("op", [lambda x, y: x + y, lambda x, y: x * y])
def test_shape_errors_name_op_and_shapes(op):
    a, b = Tensor(np.ones((3, 4))), Tensor(np.ones((5, 6)))
    with pytest.raises(ValueError) as err:
        op(a, b)
    msg = str(err.value)
    assert "(3, 4)" in msg and "(5, 6)" in msg and ("Add:" in msg or "Mul:" in msg)


@pytest.mark.parametrize("op", [ops.Tanh, ops.LogSoftmax])
def test_ops_that_take_out_write_into_it(op):
    """The arrays a jit replay's memory plan hands them: y's in forward, dL/da's in backward."""
    a, g = rand(3, 4, seed=5), rand(3, 4, seed=6)
    ctx = op.__new__(op)
    y, out = op.forward(ctx, a), np.empty((3, 4))
    assert op.forward(ctx, a, out=out) is out
    np.testing.assert_array_equal(out, y)
    grad, into = op.backward(ctx, g), np.empty((3, 4))
    assert op.backward(ctx, g, out=into) is into
    np.testing.assert_array_equal(into, grad)


@pytest.mark.parametrize("op", [ops.Add, ops.Sub, ops.Mul])
def test_binary_ops_write_their_output_into_out(op):
    a, b = rand(3, 4, seed=7), rand(4, seed=8)  # broadcasting: out has the output's shape
    out = np.empty((3, 4))
    assert op.forward(op.__new__(op), a, b, out=out) is out
    np.testing.assert_array_equal(out, op.forward(op.__new__(op), a, b))
