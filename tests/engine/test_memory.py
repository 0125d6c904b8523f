"""Training memory stays flat: each step's graph is freed once the step is done.

A graph kept alive by anything (a loss held in a list, a hidden state not detached, a cache)
keeps every Tensor and Function node of its step alive. The step here is a small char-RNN in
plain ops (row lookup, @, tanh, log_softmax, indexing) with an SGD update by hand, the shape of a
real training step; after hundreds of steps, the live Tensors and nodes are exactly as many as
after the first few, and traced memory has not grown.
"""
import gc
import tracemalloc

import numpy as np

from tinygrad_rnn import Function, Tensor, no_grad, stack

from ..helpers import rand

BUDGET = 64 * 1024  # bytes of growth allowed over 200 steps, for one-off allocations


def live(kind):
    gc.collect()
    return sum(issubclass(type(o), kind) for o in gc.get_objects())  # type(): no __class__ lookups


def make_step(vocab=12, hidden=16, batch=3, steps=5, history=None):
    params = [Tensor(rand(vocab, hidden, seed=1) * 0.3, requires_grad=True),
              Tensor(rand(hidden, hidden, seed=2) * 0.3, requires_grad=True),
              Tensor(rand(hidden, vocab, seed=3) * 0.3, requires_grad=True)]
    ids = np.random.default_rng(0).integers(0, vocab, (batch, steps + 1))
    rows = np.arange(batch)
    state = {"h": Tensor(np.zeros((batch, hidden)))}

    def step():
        w_xh, w_hh, w_hy = params
        h, outs = state["h"], []
        for t in range(steps):
            h = (w_xh[ids[:, t]] + h @ w_hh).tanh()
            outs.append(h)
        logits = stack(outs, axis=1) @ w_hy
        loss = -logits.log_softmax(axis=-1)[rows[:, None], np.arange(steps), ids[:, 1:]].mean()
        loss.backward()
        with no_grad():
            for p in params:
                p.data -= 0.1 * p.grad
                p.grad = None
        state["h"] = h.detach()  # carried to the next chunk, cut from this step's graph
        if history is not None:
            history.append(loss)  # the classic leak: the loss Tensor, not loss.item()
        return loss.item()

    return step


def test_live_tensors_and_nodes_return_to_their_count_after_every_step():
    step = make_step()
    for _ in range(3):
        step()
    tensors, nodes = live(Tensor), live(Function)
    for _ in range(50):
        step()
    assert (live(Tensor), live(Function)) == (tensors, nodes)


def test_the_count_sees_a_loss_kept_by_the_caller():
    """The same count does see a leak: a list of losses keeps a Tensor and a node per step."""
    step = make_step(history=[])
    for _ in range(3):
        step()
    tensors, nodes = live(Tensor), live(Function)
    for _ in range(50):
        step()
    assert live(Tensor) - tensors >= 50 and live(Function) - nodes >= 50


def test_200_steps_do_not_grow_traced_memory():
    step = make_step()
    for _ in range(20):  # numpy's caches and the carried state exist from here on
        step()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(200):
            step()
        gc.collect()
        growth = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert growth < BUDGET, f"memory grew by {growth / 1024:.0f} KiB over 200 steps"
