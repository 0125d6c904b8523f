"""What the reference tests share: a document's sample problem by seed, the relative error,
autograd of a Tensor loss, and central finite differences of a numpy loss."""
import numpy as np

from tinygrad_rnn import Tensor

SEEDS = [0, 1, 2, 3]


def doc_id(doc):
    """A reference module's test id: its module name, e.g. "min_char_rnn"."""
    return doc.__name__.rsplit(".", 1)[-1]


def problem_for(doc, seed):
    return doc.sample_problem(np.random.default_rng(seed))


def rel_error(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(a), np.linalg.norm(b), 1e-300)


def autograd(problem, loss_fn):
    """(loss value, gradients) from a Tensor loss `loss_fn(tparams, problem)` and backward()."""
    tparams = {n: Tensor(a.copy(), requires_grad=True) for n, a in problem["params"].items()}
    out = loss_fn(tparams, problem)
    out.backward()
    return out.item(), {n: t.grad for n, t in tparams.items()}


def finite_differences(loss, problem, eps=1e-6):
    """Central differences of a numpy `loss(params, problem)`: an oracle that shares no code
    with any backward."""
    params = problem["params"]
    grads = {}
    for name, value in params.items():
        g = np.zeros_like(value)
        for i in np.ndindex(value.shape):
            shifted = {n: a.copy() for n, a in params.items()}
            shifted[name][i] += eps
            up = loss(shifted, problem)
            shifted[name][i] -= 2 * eps
            g[i] = (up - loss(shifted, problem)) / (2 * eps)
        grads[name] = g
    return grads


def assert_only_as_written_overflows(doc, params, problem):
    """At `params`, where some score is past exp's limit, the document's unshifted softmax turns
    its as-written gradient to NaN while the corrected gradient and the loss stay finite.
    Returns the corrected gradients."""
    with np.errstate(over="ignore", invalid="ignore"):
        written = doc.backward_as_written(params, problem)
    assert any(np.isnan(g).any() for g in written.values())
    fixed = doc.backward_corrected(params, problem)
    assert all(np.isfinite(g).all() for g in fixed.values())
    assert np.isfinite(doc.loss(params, problem))
    return fixed
