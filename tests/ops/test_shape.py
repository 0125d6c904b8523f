"""Shape and indexing ops (ops/shape.py): reshape, transpose, indexing and its row scatter,
stack/concatenate, unbind, split and chunk."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_rnn import Tensor, concatenate, gradcheck, stack
from tinygrad_rnn.ops import scatter_rows
from tinygrad_rnn.ops import shape as shape_ops

from ..helpers import rand
from .checks import check


def test_reshape_transpose_forms():
    a = rand(2, 3, 4, seed=8)
    check(lambda t: t.reshape(4, 6), lambda x: x.reshape(4, 6), a)
    check(lambda t: t.reshape((6, -1)), lambda x: x.reshape(6, -1), a)
    check(lambda t: t.transpose(), np.transpose, a)
    check(lambda t: t.transpose(1, 0, 2), lambda x: x.transpose(1, 0, 2), a)
    # a permutation that is not its own inverse, with a negative axis
    check(lambda t: t.transpose(-1, 0, 1), lambda x: x.transpose(-1, 0, 1), a)
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
        terms = [(p * w[tuple(slice(n) for n in p.shape)]).sum()
                 for p, w in zip(x.split(sections, axis), weights)]
        return sum(terms, Tensor(0.0))

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


@pytest.mark.parametrize("onehot_limit", [1 << 22, 0])  # the one-hot product, and sorting
@given(rows=st.integers(1, 6), n=st.integers(0, 30), tail=st.sampled_from([(), (3,), (2, 2)]),
       seed=st.integers(0, 2**16))
def test_scatter_rows_equals_add_at(onehot_limit, rows, n, tail, seed):
    shape_ops.ONEHOT_LIMIT, saved = onehot_limit, shape_ops.ONEHOT_LIMIT

    rng = np.random.default_rng(seed)
    index = rng.integers(-rows, rows, n)
    values = rng.standard_normal((n,) + tail)
    expected = np.zeros((rows,) + tail)
    np.add.at(expected, index, values)
    try:
        got = scatter_rows((rows,) + tail, np.float64, index, values)
    finally:
        shape_ops.ONEHOT_LIMIT = saved
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_a_join_of_consecutive_planned_rows_is_a_view_and_any_other_a_copy():
    buffer = rand(4, 2, 3, seed=20)
    rows = shape_ops.planned_rows(buffer)
    try:
        stacked = shape_ops.join(list(rows[1:3]), new_axis=True)
        assert np.shares_memory(stacked, buffer)
        np.testing.assert_array_equal(stacked, np.stack(rows[1:3]))
        flat = shape_ops.join(list(rows))
        assert np.shares_memory(flat, buffer) and flat.shape == (8, 3)
        np.testing.assert_array_equal(flat, np.concatenate(rows))
        others = ([rows[2], rows[1]], [rows[0], rows[2]], [rows[0], rows[1].copy()],
                  [buffer[0], buffer[1]])  # out of order, a gap, a copy, views not planned
        for arrays in others:
            joined = shape_ops.join(arrays)
            assert not np.shares_memory(joined, buffer)
            np.testing.assert_array_equal(joined, np.concatenate(arrays))
    finally:
        shape_ops.forget_planned()
    assert not np.shares_memory(shape_ops.join(list(rows)), buffer)  # forgotten: copied


def test_a_row_gradient_joins_its_terms_in_the_order_the_forward_made_them():
    index, g = [np.array([0, 2]), np.array([2, 2])], [rand(2, 3, seed=21), rand(2, 3, seed=22)]
    total = shape_ops.RowsGrad((4, 3), g[0].dtype, index[1], g[1])  # the last step first
    assert total.merge(shape_ops.RowsGrad((4, 3), g[0].dtype, index[0], g[0]))
    (joined,) = total.joins()
    assert joined[0] is g[0] and joined[1] is g[1]
    expected = np.zeros((4, 3))
    np.add.at(expected, np.concatenate(index), np.concatenate(g))
    np.testing.assert_allclose(total.evaluate(), expected)


def test_split_backward_writes_the_joined_gradient_into_out():
    ctx = shape_ops.Split.__new__(shape_ops.Split)
    shape_ops.Split.forward(ctx, rand(2, 5, seed=23), sizes=[2, 3], axis=1)
    grads, out = (rand(2, 2, seed=24), rand(2, 3, seed=25)), np.empty((2, 5))
    assert shape_ops.Split.backward(ctx, *grads, out=out) is out
    np.testing.assert_array_equal(out, shape_ops.Split.backward(ctx, *grads))
