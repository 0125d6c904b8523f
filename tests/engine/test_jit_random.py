"""jit and random ops: a replay draws new masks, the ones an eager call would draw, and
check=True compares it with an eager run that draws them again."""
import numpy as np
import pytest

from tinygrad_rnn import Tensor, jit
from tinygrad_rnn.jit import JitCheckError
from tinygrad_rnn.nn import CharRNN
from tinygrad_rnn.nn.functional import cross_entropy


def model(seed=0):
    return CharRNN(7, 5, 2, cell="lstm", embedding_size=4, dropout=0.4, dtype=np.float64,
                   rng=np.random.default_rng(seed))


def step_of(m):
    def step(ids, targets):
        logits, _ = m(ids)
        loss = cross_entropy(logits, targets)
        loss.backward()
        return loss.item()
    return step


def batches(n, seed=1):
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, 7, (3, 6)), rng.integers(0, 7, (3, 6))) for _ in range(n)]


def test_replays_draw_the_masks_an_eager_run_draws():
    eager, traced = model(), model()
    step, jitted = step_of(eager), jit(step_of(traced))
    for ids, targets in batches(4):
        eager.zero_grad(), traced.zero_grad()
        assert jitted(ids, targets) == step(ids, targets)
        for p, q in zip(eager.parameters(), traced.parameters()):
            np.testing.assert_array_equal(q.grad, p.grad)


def test_each_replay_draws_new_masks():
    m = model()
    jitted = jit(step_of(m))
    ids, targets = batches(1)[0]
    losses = {jitted(ids, targets) for _ in range(4)}  # a trace and three replays
    assert len(losses) == 4


def test_check_mode_rewinds_the_generator_for_its_eager_run():
    checked, eager = model(), model()
    jitted, step = jit(step_of(checked), check=True), step_of(eager)
    for ids, targets in batches(3):
        assert jitted(ids, targets) == step(ids, targets)  # no JitCheckError, the same draws
    assert checked.rng.bit_generator.state == eager.rng.bit_generator.state


def test_a_mask_made_in_numpy_inside_fn_is_frozen_and_check_finds_it():
    w = Tensor(np.ones((4, 4)), requires_grad=True)
    rng = np.random.default_rng(0)

    def step(x):
        mask = (rng.random(x.shape) > 0.5).astype(float)  # numpy, not an op: a constant of the trace
        return (Tensor(x) @ w * Tensor(mask)).sum().item()

    frozen = jit(step)
    x = np.ones((4, 4))
    assert len({frozen(x) for _ in range(4)}) == 1
    with pytest.raises(JitCheckError, match="Mul"):
        checked = jit(step, check=True)
        for _ in range(3):
            checked(x)
