"""Time batching (batching.py): the ops a loop repeats independently at every step run once over
all steps in a replay, and the replay still gives what eager gives (to 1e-12 in float64: a
shared input's gradient is summed in another order)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_rnn import Tensor, jit

from .jit_worlds import H, T, V, batches, check_worlds, params

RTOL = 1e-12


def rnn_with_head_bias(W, U, b, O, c):
    """The loop a user writes, with a bias in the output layer (a shared input of a batched op)."""
    def step(ids, targets, h):
        rows, loss = np.arange(len(ids)), 0
        for t in range(ids.shape[1]):
            h = (W[ids[:, t]] + h @ U + b).tanh()
            logp = (h @ O + c).log_softmax(axis=-1)
            loss = loss - logp[rows, targets[:, t]].sum()
        loss = loss * (1.0 / ids.size)
        loss.backward()
        return loss.item(), h.detach()
    return step


def forward_ops(source, name):
    return sum(1 for line in source.splitlines() if "= forward_" in line
               and line.endswith(f"# {name}"))


def test_the_output_layer_and_the_lookup_run_once_the_recurrence_at_every_step():
    W, U, b, O, c = params(0, (V, H), (H, H), (H,), (H, V), (V,))
    jitted = jit(rnn_with_head_bias(W, U, b, O, c))
    ids, targets, h = batches(1)[0]
    jitted(ids, targets, Tensor(h))
    (trace,) = jitted._traces.values()
    source = trace.source
    assert forward_ops(source, "MatMul") == 1  # h @ O once
    assert forward_ops(source, "LogSoftmax") == 1
    # the step itself, tanh(x_t + h @ U + b), as one fused node per step (fusion.py), with
    # x_t + b once for all steps
    assert forward_ops(source, "TanhAddMatMul") == T and forward_ops(source, "Tanh") == 0
    assert forward_ops(source, "Add") == 2  # x + b, and the head's bias
    assert forward_ops(source, "GetItem") == 2  # W's rows, the targets' log-probabilities
    assert forward_ops(source, "Sub") == 1  # the running loss: 0 - (the steps' sums, summed)
    assert source.count("# LogSoftmax") == 2  # its backward once too


def test_float32_loops_are_rewritten_and_batched_too():
    """The compile-time checks of each rewrite allow float32's rounding (another summation
    order), not only float64's: the same loop in float32 replays as fused and batched, and
    agrees with eager to float32 rounding."""
    def make():
        leaves = [Tensor(p.data.astype(np.float32), requires_grad=True)
                  for p in params(0, (V, H), (H, H), (H,), (H, V), (V,))]
        return rnn_with_head_bias(*leaves), leaves

    calls = [(ids, targets, Tensor(h.astype(np.float32))) for ids, targets, h in batches(2)]
    source = check_worlds(make, calls, rtol=1e-5)._traces.popitem()[1].source
    assert forward_ops(source, "MatMul") == 1 and forward_ops(source, "LogSoftmax") == 1
    assert forward_ops(source, "TanhAddMatMul") == T and forward_ops(source, "Tanh") == 0


def test_a_batched_replay_gives_eager_results_with_updates_between_calls():
    def make():
        leaves = params(0, (V, H), (H, H), (H,), (H, V), (V,))
        return rnn_with_head_bias(*leaves), leaves

    def sgd(i, leaves):
        for p in leaves:
            p.data -= 0.1 * p.grad
            p.grad = None
    check_worlds(make, [(ids, tg, Tensor(h)) for ids, tg, h in batches(4)], between=sgd,
                 rtol=RTOL)


def test_a_recurrence_never_batches():
    U, = params(1, (H, H))

    def step(h):
        total = 0
        for _ in range(T):
            h = (h @ U).tanh()
            total = total + h.sum()
        total.backward()
        return total.item()
    jitted = jit(step)
    h = np.random.default_rng(2).normal(size=(3, H))
    jitted(h)
    (trace,) = jitted._traces.values()
    assert forward_ops(trace.source, "MatMul") == T
    # the sums of the states do batch, and the running total becomes one sum of them
    assert forward_ops(trace.source, "Sum") == 2 and forward_ops(trace.source, "Add") == 1


@pytest.mark.parametrize("used", ["all", "even"])
def test_independent_chains_with_two_varying_inputs_and_broadcasting(used):
    """x_t * m_t + bias per step, some steps' results unused: only steps whose nodes all run
    backward batch together, and the replay still matches eager."""
    def make():
        w, bias = params(3, (4, 5), (5,))

        def fn(x, m):
            loss = 0
            for t in range(x.shape[0]):
                z = ((Tensor(x)[t] @ w) * Tensor(m)[t] + bias).sigmoid()
                if used == "all" or t % 2 == 0:
                    loss = loss + z.sum()
            loss.backward()
            return loss.item()
        return fn, [w, bias]
    rng = np.random.default_rng(4)
    calls = [(rng.normal(size=(6, 2, 4)), rng.normal(size=(6, 2, 5))) for _ in range(3)]
    jitted = check_worlds(make, calls, rtol=RTOL)
    (trace,) = jitted._traces.values()
    # all six steps as one product; or the three whose results are used, and the other three
    assert forward_ops(trace.source, "MatMul") == (1 if used == "all" else 2)


def test_check_mode_compares_the_trace_as_recorded_with_eager():
    W, U, b, O, c = params(0, (V, H), (H, H), (H,), (H, V), (V,))
    jitted = jit(rnn_with_head_bias(W, U, b, O, c), check=True)
    for ids, targets, h in batches(2):
        jitted(ids, targets, Tensor(h))  # raises JitCheckError on a difference
    (trace,) = jitted._traces.values()
    assert forward_ops(trace.source, "LogSoftmax") == 1


HEADS = {
    "matmul": lambda z, p, t, m: z @ p["O"],
    "bias": lambda z, p, t, m: z + p["c"],
    "sigmoid": lambda z, p, t, m: z.sigmoid(),
    "exp": lambda z, p, t, m: (z * 0.1).exp(),
    "log_softmax": lambda z, p, t, m: z.log_softmax(axis=-1),
    "mask": lambda z, p, t, m: z * Tensor(m)[t],
}


@settings(max_examples=25, deadline=None)
@given(steps=st.integers(2, 6), batch=st.integers(1, 3), recurrent=st.booleans(),
       head=st.lists(st.sampled_from(sorted(HEADS)), min_size=0, max_size=4),
       pick=st.booleans(), step_bias=st.booleans(), frozen=st.booleans(),
       seed=st.integers(0, 2**16))
def test_random_loops_replay_as_eager(steps, batch, recurrent, head, pick, step_bias, frozen,
                                      seed):
    """Loops of lookups, recurrences (with or without a bias, trained or frozen) and per-step
    heads drawn at random: whatever the rewrites fuse and batch, every replay gives eager's loss
    and gradients."""
    width = V  # the head keeps the width, so any chain of heads composes

    def make():
        W, U, O, c = params(seed, (V, width), (width, width), (width, width), (width,))
        U.requires_grad = not frozen  # a recurrent weight that is not trained
        p = {"W": W, "U": U, "O": O, "c": c}

        def fn(ids, targets, m):
            rows, h, loss = np.arange(len(ids)), None, 0
            for t in range(ids.shape[1]):
                x = p["W"][ids[:, t]]
                if recurrent and h is not None:
                    z = x + h @ p["U"]
                    h = (z + p["c"] if step_bias else z).tanh()  # fused, the bias moved first
                else:
                    h = x.tanh()
                z = h
                for name in head:
                    z = HEADS[name](z, p, t, m)
                loss = loss + (z.log_softmax(axis=-1)[rows, targets[:, t]].sum() if pick
                               else z.sum())
            loss.backward()
            return loss.item()
        return fn, [W, U, O, c]

    def sgd(i, leaves):
        for q in leaves:
            if q.grad is not None:
                q.data -= 0.01 * q.grad
                q.grad = None
    rng = np.random.default_rng(seed)
    calls = [(rng.integers(0, V, (batch, steps)), rng.integers(0, V, (batch, steps)),
              rng.normal(size=(steps, batch, width))) for _ in range(3)]
    check_worlds(make, calls, between=sgd, rtol=1e-10)


def test_a_shared_table_picked_by_index_pairs_batches():
    """E[rows, ids[:, t]] at every step: the table is shared, the pairs' second part varies."""
    def make():
        E, = params(5, (V, V))

        def fn(ids):
            rows, loss = np.arange(len(ids)) % V, 0
            for t in range(ids.shape[1]):
                loss = loss + (E[rows, ids[:, t]] * E[rows, ids[:, t]]).sum()
            loss.backward()
            return loss.item()
        return fn, [E]
    rng = np.random.default_rng(6)
    jitted = check_worlds(make, [(rng.integers(0, V, (3, T)),) for _ in range(3)], rtol=RTOL)
    (trace,) = jitted._traces.values()
    assert forward_ops(trace.source, "GetItem") == 1  # all 2T picks, independent, as one
