"""Training memory stays flat: each step's graph is freed once the step is done.

A graph kept alive by anything (a loss held in a list, a hidden state not detached, a cache)
grows memory by at least its root nodes every step, about 2 kB here; over 200 steps that is
several times the budget below. benchmarks/memory.py measures the same over 5,000 steps.
"""
import gc
import tracemalloc

import numpy as np

from tinygrad_rnn import optim
from tinygrad_rnn.nn import CharRNN
from tinygrad_rnn.training import train_step

BUDGET = 128 * 1024  # bytes of growth allowed over 200 steps, for one-off allocations


def test_200_training_steps_do_not_grow_memory():
    rng = np.random.default_rng(0)
    vocab, batch, seq_len = 20, 4, 16
    ids = rng.integers(0, vocab, (50, batch, seq_len + 1))
    model = CharRNN(vocab, 32, rng=rng)
    optimizer = optim.Adam(model.parameters(), lr=1e-3)

    def run(steps):
        h = None
        for k in range(steps):
            chunk = ids[k % len(ids)]
            _, h = train_step(model, optimizer, chunk[:, :-1], chunk[:, 1:], h, 1.0)

    run(20)  # optimizer state, gradients and numpy's caches exist from here on
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        run(200)
        gc.collect()
        growth = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert growth < BUDGET, f"memory grew by {growth / 1024:.0f} KiB over 200 steps"
