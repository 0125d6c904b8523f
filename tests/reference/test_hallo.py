"""The "Hallo" reference: each of its three gradient mistakes and its other findings, each shown.
The checks every document shares (the loss, the corrected gradient against autograd and finite
differences, the as-written gradient against GRADIENT_FINDINGS, the update against the
optimizer) are in test_interface.py."""
import numpy as np
import pytest

from tinygrad_rnn import Tensor
from tinygrad_rnn.reference import hallo as doc

from .helpers import SEEDS, assert_only_as_written_overflows, autograd, problem_for, rel_error


def as_written_model(tparams, problem):
    """A loss whose autograd gradient is, by construction, what the document's backward computes:

    * the output error is p_t - e_0 - e_1 (the gradient of logsumexp(o) - o_0 - o_1), because
      `dout[targets[t]] -= 1` indexes with the one-hot's 0/1 entries;
    * h_{t-1} enters step t as a constant, so each step's error stops at its own tanh;
    * the terms are summed, not averaged.
    """
    Wxh, Whh, Why = (tparams[n] for n in doc.PARAMETERS)
    states, _ = doc._forward_as_written(problem["params"], problem["inputs"], problem["hprev"])
    total = 0.0
    for t, x in enumerate(problem["inputs"]):
        h = (Wxh @ x.reshape(-1, 1).astype(float) + Whh @ Tensor(states[t - 1])).tanh()
        o = Why @ h
        # logsumexp(o) - o_0 - o_1, written as -log softmax(o)_0 - o_1
        total = -o.log_softmax(axis=0)[0, 0] - o[1, 0] + total
    return total


# --- the interface ----------------------------------------------------------------------------

def test_interface():
    problem = problem_for(doc, 0)
    assert doc.SOURCE == "003_f56a54b9340eb2bd.txt"
    assert doc.PARAMETERS == ("Wxh", "Whh", "Why")
    # One window, as the document sees "Hallo": integer one-hot rows, the targets shifted by one
    # (checked for every document) and wrapping around to the first character.
    inputs, targets = problem["inputs"], problem["targets"]
    assert inputs.dtype.kind == "i" and np.all(inputs.sum(axis=1) == 1)
    assert np.array_equal(targets[-1], inputs[0])
    assert set(doc.GRADIENT_FINDINGS) == set(doc.PARAMETERS)


# --- the gradient -----------------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_as_written_is_exactly_the_three_mistakes(seed):
    # Every flagged gradient equals autograd of a loss that has exactly the three mistakes:
    # wrong rows in the output error, no flow into earlier steps, no 1/T.
    problem = problem_for(doc, seed)
    _, model = autograd(problem, as_written_model)
    written = doc.backward_as_written(problem["params"], problem)
    for name in doc.PARAMETERS:
        assert rel_error(written[name], model[name]) < 1e-9, name


def test_Why_subtracts_one_at_rows_0_and_1_whatever_the_target():
    problem = problem_for(doc, 0)
    params, inputs, targets = problem["params"], problem["inputs"], problem["targets"]
    T = len(inputs)
    states, probs = doc._forward_as_written(params, inputs, problem["hprev"])
    rows_01 = np.zeros((len(targets[0]), 1))
    rows_01[:2] = 1.0
    expected = sum((probs[t] - rows_01) @ states[t].T for t in range(T))
    assert rel_error(doc.backward_as_written(params, problem)["Why"], expected) < 1e-12
    # For every target the same two rows: the target's own row only when it is 0 or 1.
    p = np.full((4, 1), 0.25)
    for target in range(4):
        d_out = np.copy(p)
        d_out[doc._one_hot_rows([target], 4)[0]] -= 1.0
        assert np.array_equal(d_out, p - np.array([[1.0], [1.0], [0.0], [0.0]])), target
    # Why's error lies only in its output error and scale: with both fixed it is right.
    right = sum((probs[t] - targets[t].reshape(-1, 1)) @ states[t].T for t in range(T)) / T
    assert rel_error(doc.backward_corrected(params, problem)["Why"], right) < 1e-12


@pytest.mark.parametrize("name", ["Whh", "Wxh"])
def test_recurrent_gradients_stop_at_one_step(name):
    # With a one-step window there is no earlier step to reach, so only the output error and
    # the scale (here 1/T = 1) remain: fixing the output error makes as-written right.
    problem = problem_for(doc, 1)
    one = dict(problem, inputs=problem["inputs"][:1], targets=problem["targets"][:1])
    rows_01 = np.zeros_like(one["targets"])
    rows_01[0, :2] = 1
    surrogate = dict(one, targets=rows_01)            # a "target" with ones at rows 0 and 1
    written = doc.backward_as_written(one["params"], one)[name]
    assert rel_error(written, doc.backward_corrected(one["params"], surrogate)[name]) < 1e-12
    # Over the full window the missing dh_next matters.
    rows_01 = np.zeros_like(problem["targets"])
    rows_01[:, :2] = 1
    surrogate = dict(problem, targets=rows_01)
    full = len(problem["inputs"]) * doc.backward_corrected(problem["params"], surrogate)[name]
    written = doc.backward_as_written(problem["params"], problem)[name]
    assert rel_error(written, full) > 1e-2


# --- the other findings -----------------------------------------------------------------------

def test_there_is_one_test_per_other_finding():
    assert len(doc.OTHER_FINDINGS) == 5  # the five tests below


def hallo(hidden=100, seed=0):
    """The document's setup: "Hallo" over the characters a, H, l, o (so that X[0], the "H",
    prints as [0, 1, 0, 0] as in the notebook) and weights drawn as randn * 0.01."""
    chars = ["a", "H", "l", "o"]
    X = doc._one_hot_rows([chars.index(c) for c in "Hallo"], len(chars))
    rng = np.random.default_rng(seed)
    params = {"Wxh": rng.standard_normal((hidden, 4)) * 0.01,
              "Whh": rng.standard_normal((hidden, hidden)) * 0.01,
              "Why": rng.standard_normal((4, hidden)) * 0.01}
    return X, params, np.zeros((hidden, 1))


def test_np_append_flattens_the_wrapped_targets():
    X, _, _ = hallo()
    assert np.array_equal(X[0], [0, 1, 0, 0])
    written = doc._window_targets(X, 0, 5)
    assert written.shape == (20,)                     # 4 rows and X[0], flattened
    assert np.ndim(written[0]) == 0                   # targets[t] is a 0 or a 1
    fixed = doc._window_targets(X, 0, 5, as_written=False)
    assert np.array_equal(fixed, np.vstack([X[1:], X[:1]]))


def test_reported_loss_sums_all_log_probabilities():
    # With target rows, the (V, 1) * (V,) product broadcasts and the loss sums log p over all V.
    problem = problem_for(doc, 0)
    params, inputs = problem["params"], problem["inputs"]
    T = len(inputs)
    _, probs = doc._forward_as_written(params, inputs, problem["hprev"])
    all_logs = -sum(np.log(p).sum() for p in probs) / T
    reported = doc._reported_loss_as_written(params, inputs, problem["targets"], problem["hprev"])
    assert reported == pytest.approx(all_logs, rel=1e-12)
    assert reported != pytest.approx(doc.loss(params, problem), rel=1e-3)
    # On the document's data: the flattened targets are [1, 0, 0, 0, 0, ...], so one step's
    # sum of 4 log-probabilities, near-uniform at this initialisation: 4 ln 4 / 5 = 1.1090,
    # the first loss the notebook prints. The true mean cross-entropy is near ln 4 = 1.386.
    X, params, h0 = hallo()
    reported = doc._reported_loss_as_written(params, X, doc._window_targets(X, 0, 5), h0)
    assert reported == pytest.approx(4 * np.log(4) / 5, abs=1e-3)
    assert 4 * np.log(4) / 5 == pytest.approx(1.10904, abs=1e-5)
    true = doc.loss(params, {"inputs": X, "targets": doc._window_targets(X, 0, 5, False),
                             "hprev": h0})
    assert true == pytest.approx(np.log(4), abs=1e-3)


def test_returned_states_keep_hprev_last_so_the_state_is_not_carried():
    problem = problem_for(doc, 0)
    states, _ = doc._forward_as_written(problem["params"], problem["inputs"], problem["hprev"])
    T = len(problem["inputs"])
    assert states[-1] is problem["hprev"]             # what ht[-1] hands to the next window
    last = np.tanh(problem["params"]["Wxh"] @ problem["inputs"][T - 1].reshape(-1, 1)
                   + problem["params"]["Whh"] @ states[T - 2])
    assert np.allclose(states[T - 1], last, rtol=1e-12)  # the state that should be carried
    assert not np.allclose(states[-1], states[T - 1])


def test_training_softmax_overflows_where_a_shifted_one_does_not():
    problem = problem_for(doc, 0)
    params = {n: a.copy() for n, a in problem["params"].items()}
    params["Why"] *= 2000.0                           # scores of order 1000
    assert_only_as_written_overflows(doc, params, problem)


# The notebook's training cell (In [7]), verbatim.
TRAINING_CELL = """\
ht = [np.zeros((100, 1))]
for ite in tqdm(range(iterations)):
    for i in range(0, X.shape[0], network_length):
        X_train = X[i:i + network_length]
        y_train = X[i + 1:i + 1 + network_length]
        if y_train.shape[0] != network_length:
            y_train = np.append(y_train, X[0])
        loss, dWhh, dWxh, dWhy, ht = forward_and_backward(X_train, y_train, ht[-1])
        Wxh -= dWxh * learning_rate
        Whh -= dWhh * learning_rate
        Why -= dWhy * learning_ratess
    print(predict(X, Wxh, Whh, Why, ht[-1]))
    print(loss)
"""


def test_training_cell_stops_with_a_name_error_before_Why_is_updated():
    X, params, _ = hallo()
    before = {n: a.copy() for n, a in params.items()}
    calls, printed = [], []

    def forward_and_backward(X_train, targets, hprev):
        # The document's function: its backward pass, clipped inside, and its returns.
        current = {n: namespace[n] for n in doc.PARAMETERS}
        problem = {"inputs": X_train, "targets": targets, "hprev": hprev}
        grads = {n: np.clip(g, -5.0, 5.0)
                 for n, g in doc.backward_as_written(current, problem).items()}
        states, _ = doc._forward_as_written(current, X_train, hprev)
        loss = doc._reported_loss_as_written(current, X_train, targets, hprev)
        calls.append(grads)
        return loss, grads["Whh"], grads["Wxh"], grads["Why"], states

    namespace = {"np": np, "tqdm": lambda it: it, "X": X, "iterations": 30,
                 "network_length": 5, "learning_rate": doc.LEARNING_RATE,
                 "forward_and_backward": forward_and_backward,
                 "predict": lambda *args: printed.append("predict"),
                 "print": printed.append, **params}
    with pytest.raises(NameError, match="learning_ratess"):
        exec(TRAINING_CELL, namespace)
    # One call, Wxh and Whh stepped once, Why untouched though its gradient is not zero, and
    # nothing printed: the notebook's 30 printed predictions and losses are not this cell's.
    assert len(calls) == 1 and printed == []
    grads = calls[0]
    for name in ("Wxh", "Whh"):
        assert np.array_equal(namespace[name], before[name] - grads[name] * 0.1), name
    assert np.abs(grads["Why"]).max() > 0
    assert np.array_equal(namespace["Why"], before["Why"])
    # update_as_written, which reads learning_ratess as learning_rate, also steps Why.
    fixed = {n: a.copy() for n, a in before.items()}
    doc.update_as_written(fixed, grads, {})
    for name in ("Wxh", "Whh"):
        assert np.array_equal(fixed[name], namespace[name]), name
    assert np.array_equal(fixed["Why"], before["Why"] - 0.1 * grads["Why"])
