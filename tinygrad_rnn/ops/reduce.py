"""Reductions over axes: y = reduce(a, axis); backward spreads g back along the reduced axes."""
import numpy as np

from ..autograd import Function


def _expand(g, shape, axis, keepdims):
    """Give a reduced gradient back the reduced axes (length 1), ready to broadcast to `shape`."""
    if axis is None or keepdims:
        return g if axis is not None else np.reshape(g, (1,) * len(shape))
    axes = (axis,) if np.isscalar(axis) else tuple(axis)
    return np.expand_dims(g, tuple(ax % len(shape) for ax in axes))


class Sum(Function):
    """y = sum of a over `axis` (all axes if None);  dL/da = g copied along the summed axes."""

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        ctx.shape, ctx.axis, ctx.keepdims = a.shape, axis, keepdims
        return np.add.reduce(a, axis=axis, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        shape, axis = ctx.shape, ctx.axis
        if axis is None:  # a scalar sum: np.full is several times quicker than broadcasting
            return np.full(shape, g, dtype=g.dtype)
        return np.broadcast_to(_expand(g, shape, axis, ctx.keepdims), shape)


class Max(Function):
    """y = max of a over `axis`;  dL/da = g at the maximum, 0 elsewhere.

    Where several elements tie for the maximum, they share g equally (the subgradient numpy-style
    `amax` reductions use in PyTorch).
    """

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        y = np.max(a, axis=axis, keepdims=keepdims)
        ctx.save_for_backward(a, y)
        ctx.axis, ctx.keepdims = axis, keepdims
        return y

    @staticmethod
    def backward(ctx, g):
        a, y = ctx.saved_tensors
        axis, keepdims = ctx.axis, ctx.keepdims
        hit = a == _expand(y, a.shape, axis, keepdims)
        share = hit / hit.sum(axis=axis, keepdims=True)
        return _expand(g, a.shape, axis, keepdims) * share
