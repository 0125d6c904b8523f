"""Fused ops: one node where the graph would have several.

Each is checked against its unfused twin (same values, same gradients) in tests/ops/test_fused.py.
"""
import numpy as np

from ..autograd import Function
from .elementwise import log_softmax, unbroadcast
from .matmul import MatMulWeightGrad, transposed


class TanhAddMatMul(Function):
    """y = tanh(x + h @ W): a vanilla RNN step as one node (twin: `(x + h @ W).tanh()`).

    With z = x + h W and dz = g * (1 - y^2) (through tanh):
        dL/dx = dz,   dL/dh = dz W^T,   dL/dW = h^T dz.
    One node instead of three matters in the recurrence, where the arrays are small and the
    per-node cost of Python is a large part of each step. h and W are 2-D.
    """

    takes_out = ("forward", "backward")  # y's array; dL/dx's (used when x has y's shape)

    @staticmethod
    def forward(ctx, x, h, W, out=None):
        if out is not None and out.shape == (len(h), W.shape[1]):  # h W is y's shape
            z = np.matmul(h, W, out=out)
            z += x
        else:
            z = h @ W
            if z.shape == x.shape:
                z += x
            else:
                z = z + x
        y = np.tanh(z, out=z)
        ctx.save_for_backward(h, W, y)
        ctx.x_shape = x.shape
        return y

    @staticmethod
    def backward(ctx, g, out=None):
        h, W, y = ctx.saved_tensors
        need_x, need_h, need_W = ctx.needs_input_grad
        x_shape = ctx.x_shape
        dz = np.multiply(y, y, out=out if x_shape == y.shape else None)
        np.subtract(1.0, dz, out=dz)  # a Python float: cheaper than making y.dtype.type(1)
        dz *= g
        return ((dz if x_shape == dz.shape else unbroadcast(dz, x_shape)) if need_x else None,
                dz @ transposed(W) if need_h else None,
                MatMulWeightGrad(h, dz) if need_W else None)


class CrossEntropy(Function):
    """L = mean (or sum) over rows n of -log softmax(a_n)[t_n], for logits a (N, C), targets t (N,).

    Twin: `-a.log_softmax(axis=-1)[arange(N), t].mean()`. With p = softmax(a) and the one-hot
    rows of t, dL/da = (p - onehot(t)) / N for the mean: one pass, where the twin builds a zero
    (N, C) array for the indexing and a second one for log_softmax's backward. Stable for any
    logits, through the same `log_softmax` as the LogSoftmax op.
    """

    @staticmethod
    def forward(ctx, a, targets, reduction="mean"):
        rows = np.arange(len(a))
        logp = log_softmax(a, axis=1)
        ctx.save_for_backward(logp)
        ctx.rows, ctx.targets = rows, targets
        # the scale in a's dtype: numpy 1.x would promote a float32 sum times a Python float
        ctx.scale = a.dtype.type(1.0 / len(a) if reduction == "mean" else 1.0)
        return -np.add.reduce(logp[rows, targets]) * ctx.scale

    @staticmethod
    def backward(ctx, g):
        (logp,) = ctx.saved_tensors
        grad = np.exp(logp)
        grad[ctx.rows, ctx.targets] -= 1
        grad *= g * ctx.scale
        return grad
