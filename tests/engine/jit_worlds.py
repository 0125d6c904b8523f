"""Two worlds for the jit tests: the same function and parameters, run eagerly and jitted."""
import numpy as np

from tinygrad_rnn import Tensor, jit


def params(seed, *shapes):
    rng = np.random.default_rng(seed)
    return [Tensor(rng.normal(size=s), requires_grad=True) for s in shapes]


def same(a, b, rtol=0.0):
    """Equal structures of equal values (arrays bit for bit, NaN equal to NaN; with rtol, to
    that relative tolerance: a batched replay sums in another order)."""
    if isinstance(a, (tuple, list)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            same(x, y, rtol)
    elif isinstance(a, Tensor):
        assert isinstance(b, Tensor)
        same(a.data, b.data, rtol)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        if rtol:
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * 1e-3)
        else:
            np.testing.assert_array_equal(a, b)
    elif rtol and isinstance(a, float):
        assert abs(a - b) <= rtol * abs(b), (a, b)
    else:
        assert a == b or (a != a and b != b), (a, b)


def check_worlds(make, calls, between=None, rtol=0.0):
    """make(seed) -> (fn, leaves); calls: a list of argument tuples (made per world by calling
    each item if it is callable). Compares results and .grad of every leaf after each call
    (bit for bit, or to `rtol`)."""
    (eager_fn, eager_leaves), (fn, leaves) = make(), make()
    jitted = jit(fn)
    for i, args in enumerate(calls):
        expected = eager_fn(*args(eager_leaves) if callable(args) else args)
        got = jitted(*args(leaves) if callable(args) else args)
        same(got, expected, rtol)
        for a, b in zip(leaves, eager_leaves):
            assert (a.grad is None) == (b.grad is None)
            if a.grad is not None:
                same(a.grad, b.grad, rtol)
        if between is not None:
            between(i, eager_leaves)
            between(i, leaves)
    return jitted


V, B, T, H = 7, 3, 5, 4


def plain_rnn(W, U, b, O):
    """The loop a user writes: a row lookup, @, tanh, log_softmax and indexing at every step."""
    def step(ids, targets, h):
        rows, loss = np.arange(len(ids)), 0
        for t in range(ids.shape[1]):
            h = (W[ids[:, t]] + h @ U + b).tanh()
            logp = (h @ O).log_softmax(axis=-1)
            loss = loss - logp[rows, targets[:, t]].sum()
        loss = loss * (1.0 / ids.size)
        loss.backward()
        return loss.item(), h.detach()
    return step


def batches(n, seed=1, batch=B, steps=T):
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, V, (batch, steps)), rng.integers(0, V, (batch, steps)),
             rng.normal(size=(batch, H))) for _ in range(n)]
