"""Every op: forward against numpy, gradient against float64 central differences."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_rnn import Tensor, concatenate, gradcheck, stack

from .helpers import rand


def check(op, np_op, *arrays, **kw):
    """Forward equals numpy's, and the gradient of every input equals finite differences."""
    ts = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    np.testing.assert_allclose(op(*ts).data, np_op(*arrays), rtol=1e-12, atol=1e-12)
    assert gradcheck(op, ts, **kw)


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
@given(shape=shapes, seed=st.integers(0, 2**16))
def test_unary_ops(op, shape, seed):
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


@pytest.mark.parametrize("sa,sb", [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)),
                                   ((5, 2, 3), (3, 4)), ((5, 2, 3), (5, 3, 4)), ((2, 3), (5, 3, 4)),
                                   ((1, 2, 3), (4, 3, 2)), ((2, 1, 2, 3), (3, 3, 1))])
def test_matmul_numpy_rules(sa, sb):
    check(lambda x, y: x @ y, np.matmul, rand(*sa, seed=1), rand(*sb, seed=2))


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


def test_reshape_transpose_forms():
    a = rand(2, 3, 4, seed=8)
    check(lambda t: t.reshape(4, 6), lambda x: x.reshape(4, 6), a)
    check(lambda t: t.reshape((6, -1)), lambda x: x.reshape(6, -1), a)
    check(lambda t: t.transpose(), np.transpose, a)
    check(lambda t: t.transpose(1, 0, 2), lambda x: x.transpose(1, 0, 2), a)
    check(lambda t: t.reshape(6, 4).T, lambda x: x.reshape(6, 4).T, a)


@pytest.mark.parametrize("index", [
    1, -1, slice(1, 3), (slice(None), 2), (Ellipsis, 1), (1, slice(None, None, -1)),
    np.array([0, 2, 2, 0, 0]), (np.array([0, 1, 1]), np.array([3, 3, 0])), [[0, 1], [1, 1]]])
def test_indexing(index):
    a = rand(3, 4, seed=9)
    check(lambda t: t[index], lambda x: x[index], a)


def test_repeated_indices_accumulate():
    """The embedding lookup: a row picked k times receives k gradients."""
    w = Tensor(np.zeros((4, 2)), requires_grad=True)
    w[np.array([[1, 1], [3, 1]])].sum().backward()
    np.testing.assert_array_equal(w.grad, [[0, 0], [3, 3], [0, 0], [1, 1]])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_stack_concatenate_unbind(axis):
    a, b = rand(2, 3, seed=10), rand(2, 3, seed=11)
    check(lambda x, y: stack([x, y], axis=axis), lambda x, y: np.stack([x, y], axis=axis), a, b)
    check(lambda x, y: concatenate([x, y, x], axis=axis),
          lambda x, y: np.concatenate([x, y, x], axis=axis), a, b)
    check(lambda x: stack(x.unbind(axis)[::-1], axis=axis),
          lambda x: np.flip(x, axis=axis), a)


@pytest.mark.parametrize("length,chunks,sizes", [(6, 3, [2, 2, 2]), (7, 3, [3, 3, 1]),
                                                 (6, 4, [2, 2, 2]), (2, 4, [1, 1]), (5, 1, [5])])
def test_chunk_lengths_are_pytorchs(length, chunks, sizes):
    parts = Tensor(rand(2, length)).chunk(chunks)
    assert [p.shape[-1] for p in parts] == sizes


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("sections", [2, 4, [1, 3, 2], [0, 6]])
def test_split_gradient(axis, sections):
    a = rand(6, 6, seed=12)
    weights = [rand(6, 6, seed=20 + k) for k in range(6)]

    def weighted(x):  # every part weighted differently, so a part sent to the wrong place shows
        parts = x.split(sections, axis)
        return sum(((p * w[tuple(slice(n) for n in p.shape)]).sum() for p, w in zip(parts, weights)), Tensor(0.0))

    assert gradcheck(weighted, [Tensor(a, requires_grad=True)])
    cut = np.cumsum(sections)[:-1] if isinstance(sections, list) else np.arange(sections, 6, sections)
    for got, want in zip(Tensor(a).split(sections, axis), np.split(a, cut, axis)):
        np.testing.assert_array_equal(got.data, want)


def test_split_parts_nobody_used_get_zero_gradient():
    t = Tensor(rand(2, 6), requires_grad=True)
    t.chunk(3)[1].sum().backward()
    np.testing.assert_array_equal(t.grad, [[0, 0, 1, 1, 0, 0]] * 2)


@pytest.mark.parametrize("call", [lambda t: t.split([2, 2]), lambda t: t.split(0),
                                  lambda t: t.chunk(0), lambda t: t.split(2, axis=2)])
def test_split_errors_name_the_problem(call):
    with pytest.raises((ValueError, IndexError), match="split|chunk"):
        call(Tensor(rand(3, 5)))


def test_unbind_with_unused_outputs():
    t = Tensor(rand(3, 2), requires_grad=True)
    t.unbind(0)[1].sum().backward()
    np.testing.assert_array_equal(t.grad, [[0, 0], [1, 1], [0, 0]])


@pytest.mark.parametrize("op", [lambda x, y: x + y, lambda x, y: x @ y])
def test_shape_errors_name_op_and_shapes(op):
    a, b = Tensor(np.ones((3, 4))), Tensor(np.ones((5, 6)))
    with pytest.raises(ValueError) as err:
        op(a, b)
    msg = str(err.value)
    assert "(3, 4)" in msg and "(5, 6)" in msg and ("Add" in msg or "MatMul" in msg)


# Fused ops: each must agree with its unfused twin, in values and in gradients.

def _grads(fn, arrays):
    ts = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    out = fn(*ts)
    out.sum().backward()
    return out.data, [t.grad for t in ts]


@pytest.mark.parametrize("x_shape", [(3, 4), (4,)])
def test_tanh_add_matmul_equals_its_twin(x_shape):
    from tinygrad_rnn.ops import TanhAddMatMul

    arrays = rand(*x_shape, seed=1), rand(3, 5, seed=2), rand(5, 4, seed=3)
    fused, twin = TanhAddMatMul.apply, lambda x, h, w: (x + h @ w).tanh()
    assert gradcheck(fused, [Tensor(a.copy(), requires_grad=True) for a in arrays])
    (yf, gf), (yt, gt) = _grads(fused, arrays), _grads(twin, arrays)
    np.testing.assert_allclose(yf, yt, rtol=1e-14)
    for a, b in zip(gf, gt):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_tanh_add_matmul_with_a_non_leaf_weight():
    from tinygrad_rnn.ops import TanhAddMatMul

    w = Tensor(rand(5, 4, seed=3), requires_grad=True)
    assert gradcheck(lambda x, h, w: TanhAddMatMul.apply(x, h, w * 2.0),
                     [Tensor(rand(3, 4), requires_grad=True), Tensor(rand(3, 5), requires_grad=True), w])


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_equals_its_twin(reduction):
    from tinygrad_rnn.ops import CrossEntropy

    logits, targets = rand(6, 5, seed=4, low=-3, high=3), np.array([0, 4, 4, 1, 2, 0])
    rows = np.arange(6)

    def twin(a):
        picked = -a.log_softmax(axis=-1)[rows, targets]
        return picked.mean() if reduction == "mean" else picked.sum()

    def fused(a):
        return CrossEntropy.apply(a, targets=targets, reduction=reduction)

    assert gradcheck(fused, [Tensor(logits.copy(), requires_grad=True)])
    (yf, gf), (yt, gt) = _grads(fused, [logits]), _grads(twin, [logits])
    np.testing.assert_allclose(yf, yt, rtol=1e-13)
    np.testing.assert_allclose(gf[0], gt[0], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("onehot_limit", [1 << 22, 0])  # the one-hot product, and sorting
@given(rows=st.integers(1, 6), n=st.integers(0, 30), tail=st.sampled_from([(), (3,), (2, 2)]),
       seed=st.integers(0, 2**16))
def test_scatter_rows_equals_add_at(onehot_limit, rows, n, tail, seed):
    from tinygrad_rnn.ops import scatter_rows, shape as ops

    ops.ONEHOT_LIMIT, saved = onehot_limit, ops.ONEHOT_LIMIT

    rng = np.random.default_rng(seed)
    index = rng.integers(-rows, rows, n)
    values = rng.standard_normal((n,) + tail)
    expected = np.zeros((rows,) + tail)
    np.add.at(expected, index, values)
    try:
        got = scatter_rows((rows,) + tail, np.float64, index, values)
    finally:
        ops.ONEHOT_LIMIT = saved
    np.testing.assert_allclose(got, expected, atol=1e-12)
