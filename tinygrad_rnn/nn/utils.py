"""Gradient clipping, in place on each parameter's `.grad`, as `torch.nn.utils`."""
import numpy as np

from ..tensor import Tensor


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0):
    """Scale all gradients together so that their joint norm is at most `max_norm`.

    The total norm treats every gradient as one long vector:  n = ||(g_1, g_2, ...)||_p
    (p = norm_type, 2 by default; float("inf") for the largest |entry|). Then, as PyTorch,

        g <- g * min(1, max_norm / (n + 1e-6))

    which keeps the direction of the update and only shortens it. Returns n, the norm before
    clipping, as a float (useful to log: a spike means an exploding gradient).
    """
    grads = _grads(parameters)
    if not grads:
        return 0.0
    norm_type = float(norm_type)
    if norm_type == np.inf:
        total = max(float(np.max(np.abs(g))) for g in grads)
    else:
        total = sum(float(np.sum(np.abs(g) ** norm_type)) for g in grads) ** (1.0 / norm_type)
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        for g in grads:
            g *= coef
    return total


def clip_grad_value_(parameters, clip_value):
    """Clip every gradient entry to [-clip_value, clip_value]. Unlike clip_grad_norm_, this can
    change the direction of the update."""
    for g in _grads(parameters):
        np.clip(g, -clip_value, clip_value, out=g)
