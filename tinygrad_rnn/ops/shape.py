"""Ops that move values without arithmetic: reshape, transpose, indexing, joining and splitting.

Their backward puts each element of g back where its value came from."""
import math

import numpy as np

from ..autograd import Deferred, Function


class Reshape(Function):
    """y = a with a new shape;  dL/da = g with the old one."""

    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return a.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape)


class Transpose(Function):
    """y = a with its axes permuted;  dL/da = g with the inverse permutation."""

    @staticmethod
    def forward(ctx, a, axes=None):
        ctx.axes = axes
        return np.transpose(a, axes)

    @staticmethod
    def backward(ctx, g):
        axes = ctx.axes
        if axes is None:
            return np.transpose(g)
        inverse = [0] * g.ndim  # y's axis i is a's axis axes[i]; a plain loop beats np.argsort
        for i, axis in enumerate(axes):
            inverse[axis % g.ndim] = i
        return np.transpose(g, inverse)


def _is_advanced(index):
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, (list, np.ndarray)) for p in parts)


class GetItem(Function):
    """y = a[index];  dL/da = zeros with g added at the indexed places.

    With integer-array indices an element of a may be picked several times (an embedding lookup
    with a repeated character); each pick contributes, so the gradient is scattered with
    `np.add.at`, which adds repeated indices instead of overwriting them.
    """

    @staticmethod
    def forward(ctx, a, index):
        ctx.shape, ctx.index = a.shape, index
        return a[index]

    @staticmethod
    def backward(ctx, g):
        index = ctx.index
        if type(index) is np.ndarray and index.dtype.kind in "iu":  # rows: an embedding lookup
            return RowsGrad(ctx.shape, g.dtype, index, g)
        grad = np.zeros(ctx.shape, dtype=g.dtype)  # indexing keeps the dtype: a's is g's
        if _is_advanced(index):
            np.add.at(grad, index, g)
        else:  # basic slicing never repeats an element
            grad[index] = g
        return grad


class RowsGrad(Deferred):
    """dL/dA for rows A[index] picked from a table A (an embedding), left unevaluated.

    A table read at every time step gets T such terms; they are gathered and scattered into one
    table with a single `scatter_rows`, instead of T zero tables added together. (The walk
    evaluates the term at once when A is not a leaf.)
    """

    def __init__(self, shape, dtype, index, g):
        self.shape, self.dtype = shape, dtype
        rows = g if g.ndim == len(shape) else g.reshape((-1,) + shape[1:])  # g itself: see join
        self.index, self.g = [index.reshape(-1)], [rows]

    def merge(self, other):
        self.index += other.index
        self.g += other.g
        return True

    def evaluate(self):
        index, g = self.index, self.g
        if len(index) > 1:  # in the order the forward made them, as MatMulWeightGrad joins
            index, g = [np.concatenate(index[::-1])], [join(g[::-1])]
        return scatter_rows(self.shape, self.dtype, index[0], g[0])

    def joins(self):
        return (self.g[::-1],)


ONEHOT_LIMIT = 1 << 22  # entries of the one-hot matrix (16 MB in float32) above which we sort


def scatter_rows(shape, dtype, index, rows):
    """A zero table of `shape` with each rows[i] added into row index[i] (repeats accumulate).

    The same as `np.add.at(table, index, rows)`, which is slow. For a small table (a character
    vocabulary) the scatter is a product with the one-hot matrix of the indices,
    table = onehot(index)^T @ rows, one GEMM; for a large one, the indices are sorted and each
    run of equal ones summed with `np.add.reduceat`.
    """
    index = index % shape[0]  # negative indices count from the end, as in a[index]
    rows = rows.reshape(len(index), math.prod(shape[1:]))  # math.prod: np.prod costs µs here
    if len(index) * shape[0] <= ONEHOT_LIMIT:
        onehot = (index[:, None] == np.arange(shape[0])).astype(dtype)
        return (onehot.T @ rows).reshape(shape)
    table = np.zeros((shape[0], rows.shape[1]), dtype=dtype)
    order = np.argsort(index, kind="stable")
    sorted_index = index[order]
    starts = np.flatnonzero(np.concatenate([[True], sorted_index[1:] != sorted_index[:-1]]))
    table[sorted_index[starts]] = np.add.reduceat(rows[order], starts, axis=0)
    return table.reshape(shape)


class Stack(Function):
    """y = the inputs stacked along a new `axis`;  dL/d(input i) = g taken at i on that axis."""

    stacks = "inputs"

    @staticmethod
    def forward(ctx, *arrays, axis=0):
        ctx.axis = axis
        return _stack(arrays, axis)

    @staticmethod
    def backward(ctx, g):
        return _slices(g, ctx.axis)


class Concatenate(Function):
    """y = the inputs joined along `axis`;  dL/d(input i) = the slice of g that input i filled."""

    @staticmethod
    def forward(ctx, *arrays, axis=0):
        ctx.axis = axis
        ctx.ends = np.cumsum([a.shape[axis] for a in arrays])[:-1]
        return np.concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, g):
        return tuple(np.split(g, ctx.ends, axis=ctx.axis))


class Unbind(Function):
    """The slices of a along `axis`, as separate outputs (one per index); the inverse of Stack.

    dL/da = the outputs' gradients stacked back along `axis`. Slicing a sequence this way costs
    one stack in backward, where T separate `a[t]` would each scatter into a zero array of a's size.
    """

    stacks = "grads"

    @staticmethod
    def forward(ctx, a, axis=0):
        ctx.axis = axis
        return _slices(a, axis)

    @staticmethod
    def backward(ctx, *grads):
        return _stack(grads, ctx.axis)


def _stack(arrays, axis):
    """np.stack(arrays, axis); along axis 0, as one concatenate (half the time for small arrays)."""
    shape = arrays[0].shape
    if axis == 0 and shape and all(a.shape == shape for a in arrays):
        return join(arrays, new_axis=True)
    return np.stack(arrays, axis=axis)


# Rows of buffers that a jit replay had ops write into (replay.py's memory plan), while it runs:
# id(row) -> (buffer, its rows, the row's index). The rows themselves are kept, so ids stay theirs.
_planned = {}


def planned_rows(buffer):
    """The rows buffer[0], buffer[1], ... as views for ops to write into, known to `join`."""
    rows = tuple(buffer)
    for i, row in enumerate(rows):
        _planned[id(row)] = (buffer, rows, i)
    return rows


def forget_planned():
    _planned.clear()


def join(arrays, new_axis=False):
    """np.concatenate(arrays) along axis 0 (np.stack along a new axis 0 if `new_axis`).

    When the arrays are consecutive rows of a planned buffer, in order, they already lie back to
    back in memory: the join is a view of that buffer, and nothing is copied. Which arrays are
    such rows is known by identity, so the test costs a dictionary look-up and n `is`.
    """
    hit = _planned.get(id(arrays[0])) if _planned else None
    if hit is not None:
        buffer, rows, k = hit
        n = len(arrays)
        if k + n <= len(rows) and all(a is r for a, r in zip(arrays, rows[k:k + n])):
            part = buffer[k:k + n]
            return part if new_axis else part.reshape((-1,) + part.shape[2:])
    joined = np.concatenate(arrays)
    return joined.reshape((len(arrays),) + arrays[0].shape) if new_axis else joined


def _slices(a, axis):
    """The views a[..., i, ...] along `axis`, as a tuple (np.moveaxis costs µs even when 0)."""
    return tuple(a) if axis == 0 else tuple(np.moveaxis(a, axis, 0))


class Split(Function):
    """The consecutive parts of a along `axis`, of lengths `sizes`, as separate outputs (views).

    dL/da = the outputs' gradients joined back along `axis`; a part nobody used contributes
    zeros (the walk fills them in). The inverse of Concatenate, as Unbind is of Stack: the gates
    of an LSTM or GRU cell, split from one product, cost one join in backward, where slicing
    each gate out would scatter it into a zero array of a's size.
    """

    takes_out = ("backward",)

    @staticmethod
    def forward(ctx, a, sizes, axis=-1):
        if not -a.ndim <= axis < a.ndim:
            raise ValueError(f"axis {axis} is out of range for an array of {a.ndim} dimensions")
        axis %= a.ndim
        if sum(sizes) != a.shape[axis] or min(sizes, default=0) < 0:
            raise ValueError(f"sizes {list(sizes)} must be non-negative and sum to the length "
                             f"{a.shape[axis]} of axis {axis}")
        ctx.axis = axis
        lead, start, parts = (slice(None),) * axis, 0, []
        for n in sizes:
            parts.append(a[lead + (slice(start, start + n),)])
            start += n
        return tuple(parts)

    @staticmethod
    def backward(ctx, *grads, out=None):
        return np.concatenate(grads, axis=ctx.axis, out=out)
