"""Ops that draw random numbers: the draw happens inside `forward`, from a generator passed in.

Drawing inside the op, rather than making a mask in numpy and multiplying by it, is what lets
`jit` replay such a step: a replay calls `forward` again, so each call draws anew, from the same
generator and in the same order as an eager call would (a mask made in numpy inside a jitted
function is a constant of the trace, the same mask at every call).
"""
import numpy as np

from ..autograd import Function


class Dropout(Function):
    """y = x * m / (1 - p), with m_i = 1 with probability 1 - p, else 0, drawn at every call.

    dL/dx = g * m / (1 - p): the gradient passes where the input did, scaled alike. Scaling the
    kept elements by 1/(1 - p) ("inverted dropout", as PyTorch) keeps E[y] = x, so the model
    needs no change when dropout is switched off for evaluation. `rng` is a numpy Generator.
    """

    @staticmethod
    def forward(ctx, x, p, rng):
        # one uniform float32 per element (half the cost of float64; p's resolution is 2^-24)
        keep = rng.random(x.shape, dtype=np.float32) >= p
        # a bool array times a scalar of x's dtype; p = 1 drops everything
        scale = keep * x.dtype.type(0.0 if p == 1 else 1.0 / (1.0 - p))
        ctx.save_for_backward(scale)
        return x * scale

    @staticmethod
    def backward(ctx, g):
        (scale,) = ctx.saved_tensors
        return g * scale
