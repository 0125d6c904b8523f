"""Reductions over axes: y = reduce(a, axis); backward spreads g back along the reduced axes."""
import numpy as np

from ..autograd import Function


def _expand(g, shape, axis, keepdims):
    """Give a reduced gradient back the reduced axes (length 1), ready to broadcast to `shape`.
    (A reshape to the kept shape: np.expand_dims costs several times more on small arrays.)"""
    if keepdims or axis is None:  # g has the kept axes already, or is a scalar
        return g
    axes = {ax % len(shape) for ax in (axis if isinstance(axis, (tuple, list)) else (axis,))}
    return np.reshape(g, tuple(1 if i in axes else n for i, n in enumerate(shape)))


class Sum(Function):
    """y = sum of a over `axis` (all axes if None);  dL/da = g copied along the summed axes."""

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        ctx.shape, ctx.axis, ctx.keepdims = a.shape, axis, keepdims
        return np.add.reduce(a, axis=axis, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        # filled by assignment: quicker than np.full, and than np.broadcast_to by microseconds
        grad = np.empty(ctx.shape, dtype=g.dtype)
        grad[...] = _expand(g, ctx.shape, ctx.axis, ctx.keepdims)
        return grad


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
