"""Loss functions and dropout, as in `torch.nn.functional`.

The class axis is the last one: logits of shape (..., C) with targets of shape (...). (PyTorch
puts classes on axis 1, (N, C, d1, ...); for the common (N, C) the two agree.)
"""
import numpy as np

from ..ops import CrossEntropy, Dropout
from ..tensor import Tensor
from .layers import _generator, check_ids

_REDUCTIONS = ("mean", "sum")


def _checked_targets(scores, targets, reduction):
    """Targets as a flat integer array matching the (..., C) scores, or a clear error."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    targets = check_ids(targets, scores.shape[-1], "target")
    if targets.shape != scores.shape[:-1]:
        raise ValueError(f"targets of shape {targets.shape} do not match inputs of shape "
                         f"{scores.shape}: expected targets of shape {scores.shape[:-1]}")
    return targets.reshape(-1)


def nll_loss(log_probs, targets, reduction="mean"):
    """Negative log-likelihood of the targets:  L = -sum_i log_probs[i, targets[i]]  (or mean).

    log_probs (..., C) holds log-probabilities (e.g. from `log_softmax`); targets (...) holds
    class indices in [0, C).
    """
    targets = _checked_targets(log_probs, targets, reduction)
    picked = log_probs.reshape(-1, log_probs.shape[-1])[np.arange(targets.size), targets]
    return -picked.sum() if reduction == "sum" else -picked.mean()


def cross_entropy(logits, targets, reduction="mean"):
    """Softmax cross-entropy:  L_i = -log softmax(z_i)[y_i] = logsumexp(z_i) - z_i[y_i].

    logits z (..., C) are unnormalised scores, targets y (...) integer classes in [0, C);
    reduction "mean" (the default) averages L_i over all positions, "sum" adds them. Stable, so
    logits of any size give a finite loss; the gradient is dL_i/dz_i = softmax(z_i) - onehot(y_i)
    (divided by N for the mean).

    It is `nll_loss(logits.log_softmax(axis=-1), targets, reduction)` computed as one fused op
    (`ops.CrossEntropy`), which makes one pass over the (N, C) logits in backward where the
    composite makes three; tests check the two agree in value and gradient.
    """
    logits = logits if isinstance(logits, Tensor) else Tensor(logits)
    targets = _checked_targets(logits, targets, reduction)
    flat = logits.reshape(-1, logits.shape[-1])
    return CrossEntropy.apply(flat, targets=targets, reduction=reduction)


def dropout(x, p=0.5, training=True, rng=None):
    """Zero each element of x with probability p and scale the rest by 1/(1 - p) (`ops.Dropout`);
    x itself when not `training` or p == 0. `rng`: the numpy Generator the mask is drawn from
    (None: a new one, seeded from the operating system's entropy)."""
    check_probability(p)
    if not training or p == 0:
        return x
    x = x if isinstance(x, Tensor) else Tensor(x)
    return Dropout.apply(x, p=float(p), rng=_generator(rng))


def check_probability(p):
    """Refuse a dropout probability outside [0, 1], in PyTorch's words."""
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p!r}")
