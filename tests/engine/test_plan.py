"""The memory plan of a jit replay (plan.py): the arrays a step stacks or joins are written into
the rows of one buffer, so that the joins are views. Counted by the np.concatenate calls a step
makes, eager against jitted, and the gradients compared bit for bit."""
import numpy as np
import pytest

from tinygrad_rnn import Tensor, jit
from tinygrad_rnn.nn import CharRNN
from tinygrad_rnn.nn.functional import cross_entropy

from .jit_worlds import H, T, V, batches, params, plain_rnn


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_the_memory_plan_makes_the_joins_of_a_recurrence_views(monkeypatch, cell):
    """CharRNN's hidden states go into the rows of one buffer, their gradients into another: the
    stack for the head, the one in Unbind's backward and the joins of the weight's deferred
    gradient are views of them in a replay, where an eager step concatenates."""
    model = CharRNN(V, H, cell=cell, embedding_size=None, dtype=np.float64,
                    rng=np.random.default_rng(0))

    def step(ids, targets):
        logits, _ = model(ids)
        cross_entropy(logits, targets).backward()
    jitted = jit(step)
    ids, targets, _ = batches(1)[0]
    jitted(ids, targets)  # the trace
    joined, concatenate = [], np.concatenate
    monkeypatch.setattr(np, "concatenate", lambda arrays, *a, **k: joined.append(len(arrays))
                        or concatenate(arrays, *a, **k))
    step(ids, targets)
    gates = [3] * (2 * T) if cell == "gru" else []  # the gates' Split backward: an op, no copy
    assert sorted(joined) == [1] + gates + [T - 1, T - 1, T, T]  # 1: the last state alone
    joined.clear()
    jitted(ids, targets)
    assert joined == gates  # the last state too: a view of the buffer's last row


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_a_carried_state_goes_into_a_row_in_front_of_the_states_it_starts(monkeypatch, cell):
    """With a state carried in, the weight's term joins [h_0, h_1 .. h_{T-1}] and the head's
    stack [h_1 .. h_T]: h_0 is copied into one more row in front, and both are views."""
    model = CharRNN(V, H, cell=cell, embedding_size=None, dtype=np.float64,
                    rng=np.random.default_rng(0))

    def step(ids, targets, state):
        logits, state = model(ids, state)
        cross_entropy(logits, targets).backward()
        return state.detach()
    jitted = jit(step)
    ids, targets, _ = batches(1)[0]
    state = jitted(ids, targets, None)
    jitted(ids, targets, state)  # the trace with a carried state
    joined, concatenate = [], np.concatenate
    monkeypatch.setattr(np, "concatenate", lambda arrays, *a, **k: joined.append(len(arrays))
                        or concatenate(arrays, *a, **k))
    expected = {p: None for p in ("eager", "jit")}
    for name, fn in (("eager", step), ("jit", jitted)):
        model.zero_grad()
        joined.clear()
        fn(ids, targets, state)
        expected[name] = (list(joined), {k: p.grad.copy() for k, p in model.named_parameters()})
    gates = [3] * (2 * T) if cell == "gru" else []
    assert T in expected["eager"][0] and expected["jit"][0] == gates
    for k, g in expected["eager"][1].items():
        np.testing.assert_array_equal(expected["jit"][1][k], g, err_msg=k)


def test_the_memory_plan_has_the_joins_of_deferred_gradients_read_rows_in_place(monkeypatch):
    """In the plain-op loop no op stacks anything, but the weights' deferred gradients join the
    states and their gradients: those are planned too, and so are the states that U's term
    joins, which start with the argument h (copied into a first row in front of the others).
    The ids and the targets of all steps, which the row lookup and the pick read once over all
    steps (batching.py), are read as views of their arguments (ids.T): nothing is copied."""
    W, U, b, O = params(0, (V, H), (H, H), (H,), (H, V))
    eager = plain_rnn(W, U, b, O)
    jitted = jit(eager)
    ids, targets, h = batches(1)[0]
    jitted(ids, targets, Tensor(h))  # the trace
    joined, concatenate = [], np.concatenate
    monkeypatch.setattr(np, "concatenate", lambda arrays, *a, **k: joined.append(
        (len(arrays), arrays[0].dtype.kind)) or concatenate(arrays, *a, **k))
    eager(ids, targets, Tensor(h))
    assert sorted(joined) == [(T, "f")] * 5 + [(T, "i")]  # U's two, O's two, W's rows and ids
    joined.clear()
    jitted(ids, targets, Tensor(h))
    assert joined == []
