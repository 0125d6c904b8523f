"""The "Implementing RNN from scratch" reference: its gradients against autograd and finite
differences, its one gradient mistake (dc), its other findings, and its Adagrad step."""
import itertools

import numpy as np
import pytest

from tinygrad_rnn import Tensor
from tinygrad_rnn.reference import from_scratch_tutorial as doc

SEEDS = [0, 1, 2, 3]


def problem_for(seed):
    return doc.sample_problem(np.random.default_rng(seed))


def rel_error(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(a), np.linalg.norm(b), 1e-300)


def autograd(problem):
    """(loss value, gradients) from tensor_loss and backward()."""
    tparams = {n: Tensor(a.copy(), requires_grad=True) for n, a in problem["params"].items()}
    out = doc.tensor_loss(tparams, problem)
    out.backward()
    return out.item(), {n: t.grad for n, t in tparams.items()}


def finite_differences(problem, eps=1e-6):
    """Central differences of the numpy `loss`: an oracle that shares no code with any backward."""
    params = problem["params"]
    grads = {}
    for name, value in params.items():
        g = np.zeros_like(value)
        for i in np.ndindex(value.shape):
            shifted = {n: a.copy() for n, a in params.items()}
            shifted[name][i] += eps
            up = doc.loss(shifted, problem)
            shifted[name][i] -= 2 * eps
            down = doc.loss(shifted, problem)
            g[i] = (up - down) / (2 * eps)
        grads[name] = g
    return grads


# --- the interface --------------------------------------------------------------------------

def test_interface():
    problem = problem_for(0)
    assert doc.SOURCE == "000_54715d8477c49f0c.txt"
    assert tuple(problem["params"]) == doc.PARAMETERS == ("U", "W", "V", "b", "c")
    assert set(doc.GRADIENT_FINDINGS) <= set(doc.PARAMETERS)
    assert all(isinstance(f, str) for f in doc.OTHER_FINDINGS)
    assert all(a.dtype == np.float64 for a in problem["params"].values())
    assert problem["targets"][:-1] == problem["inputs"][1:]  # one window of text


# --- the gradient ---------------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_loss_equals_tensor_loss(seed):
    problem = problem_for(seed)
    value, _ = autograd(problem)
    assert value == pytest.approx(doc.loss(problem["params"], problem), rel=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_autograd_equals_corrected_backward(seed):
    problem = problem_for(seed)
    _, auto = autograd(problem)
    hand = doc.backward_corrected(problem["params"], problem)
    for name in doc.PARAMETERS:
        assert rel_error(hand[name], auto[name]) < 1e-9, name


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_corrected_backward_matches_finite_differences(seed):
    problem = problem_for(seed)
    hand = doc.backward_corrected(problem["params"], problem)
    numeric = finite_differences(problem)
    for name in doc.PARAMETERS:
        assert rel_error(hand[name], numeric[name]) < 1e-6, name


@pytest.mark.parametrize("seed", SEEDS)
def test_as_written_is_right_for_unflagged_parameters(seed):
    problem = problem_for(seed)
    _, auto = autograd(problem)
    written = doc.backward_as_written(problem["params"], problem)
    for name in set(doc.PARAMETERS) - set(doc.GRADIENT_FINDINGS):
        assert rel_error(written[name], auto[name]) < 1e-9, name


@pytest.mark.parametrize("seed", SEEDS)
def test_as_written_is_wrong_for_flagged_parameters(seed):
    problem = problem_for(seed)
    _, auto = autograd(problem)
    written = doc.backward_as_written(problem["params"], problem)
    for name in doc.GRADIENT_FINDINGS:
        assert rel_error(written[name], auto[name]) > 1e-3, name


@pytest.mark.parametrize("seed", SEEDS)
def test_dc_stays_zero_instead_of_summing_output_errors(seed):
    problem = problem_for(seed)
    params = problem["params"]
    _, auto = autograd(problem)
    written = doc.backward_as_written(params, problem)
    assert np.all(written["c"] == 0.0)
    # The right dc is the summed output error sum_t (p_t - onehot(y_t)).
    _, _, ps = doc._forward(params, problem)
    expected = sum(ps[t] - doc._one_hot(y, len(ps[t])) for t, y in enumerate(problem["targets"]))
    assert rel_error(auto["c"], expected) < 1e-12
    # And a zero gradient means Adagrad never moves c.
    before = params["c"].copy()
    doc.update_as_written(params, written, {})
    assert np.array_equal(params["c"], before)


# --- the other findings -----------------------------------------------------------------------

def test_there_is_one_test_per_other_finding():
    assert len(doc.OTHER_FINDINGS) == 5  # the five tests below


def test_predict_feeds_a_prompt_as_one_multi_hot_input():
    params = problem_for(0)["params"]
    prompt = [1, 4, 2]
    as_written = doc._predict_first_probs_as_written(params, prompt)
    corrected = doc._predict_first_probs_corrected(params, prompt)
    assert not np.allclose(as_written, corrected)
    # The two agree when there is nothing to merge: a one-character prompt.
    assert np.allclose(doc._predict_first_probs_as_written(params, [3]),
                       doc._predict_first_probs_corrected(params, [3]), rtol=1e-12)


def test_training_sample_pairs_the_last_state_with_the_first_character():
    problem = problem_for(0)
    params, hprev, first = problem["params"], problem["hprev"], problem["inputs"][0]
    _, hs, ps = doc._forward(params, problem)
    last = len(problem["inputs"]) - 1
    # Seeding inputs[0] from the state that preceded it continues the text as training saw it...
    assert np.allclose(doc._sample_first_probs(params, hprev, first), ps[0], rtol=1e-12)
    # ...the document seeds it from the state after the batch, which matches no step of the text.
    as_written = doc._sample_first_probs(params, hs[last], first)
    assert not any(np.allclose(as_written, ps[t]) for t in ps)


def test_sample_and_predict_softmax_overflows_where_the_class_softmax_does_not():
    params = {n: a.copy() for n, a in problem_for(0)["params"].items()}
    params["V"] *= 1e3                                      # logits of order 1000
    h = np.full((params["W"].shape[0], 1), 0.5)
    with np.errstate(over="ignore", invalid="ignore"):
        naive = doc._sample_first_probs(params, h, 0)
    shifted = doc._sample_first_probs(params, h, 0, softmax=doc._softmax)
    assert np.isnan(naive).any()
    assert np.all(np.isfinite(shifted)) and shifted.sum() == pytest.approx(1.0)
    # Latent at the document's initialisation: |V_ij| <= 1/sqrt(H), |h| < 1 and c = 0 bound a
    # logit by H / sqrt(H) = sqrt(H): 10 for hidden size 100, 17.3 for the last run's 300.
    for hidden, bound in [(100, 10.0), (300, 17.32)]:
        V = np.full((4, hidden), np.sqrt(1.0 / hidden))  # the extreme draw
        logits = V @ np.ones((hidden, 1))                # and saturated units
        assert logits.max() == pytest.approx(bound, abs=0.01) and logits.max() < 709


def test_epochs_after_the_first_run_no_batches():
    # Even a model with zero loss on every batch spends all its batches in epoch 1.
    counts = doc._iterations_per_epoch_as_written(itertools.repeat(0.0), num_epochs=4,
                                                  vocab_size=20, seq_length=25)
    assert counts[0] > 0 and counts[1:] == [0, 0, 0]


def test_data_reader_skips_a_last_window_that_fits_exactly():
    seq_length = 5
    size = 2 * seq_length + 1           # exactly two windows of seq_length + 1 characters
    assert doc._window_starts(size, seq_length, 4) == [0, 0, 0, 0]
    fixed = doc._window_starts(size, seq_length, 4, as_written=False)
    assert fixed == [0, 5, 0, 5]
    assert all(start + seq_length + 1 <= size for start in fixed)


# --- the update -------------------------------------------------------------------------------

def test_update_clips_then_takes_an_adagrad_step():
    params = {n: a.copy() for n, a in problem_for(0)["params"].items()}
    grads = {n: np.full_like(a, -10.0) for n, a in params.items()}  # clipped to -5
    before = {n: a.copy() for n, a in params.items()}
    doc.update_as_written(params, grads, {})
    step = 0.1 * 5.0 / np.sqrt(25.0 + 1e-8)
    for name in doc.PARAMETERS:
        assert np.allclose(params[name] - before[name], step, rtol=1e-12), name
    assert np.all(grads["U"] == -10.0)  # the caller's gradients are left alone


def test_optimizer_steps_equal_update_as_written():
    from tinygrad_rnn.nn.utils import clip_grad_value_

    params = {n: a.copy() for n, a in problem_for(0)["params"].items()}
    tensors = {n: Tensor(a.copy(), requires_grad=True) for n, a in params.items()}
    optimizer = doc.make_optimizer([tensors[n] for n in doc.PARAMETERS])
    state, rng = {}, np.random.default_rng(3)
    for _ in range(3):                  # several steps, so the Adagrad memory matters
        grads = {n: rng.normal(0.0, 4.0, a.shape) for n, a in params.items()}  # some past the clip
        for name, t in tensors.items():
            t.grad = grads[name].copy()
        clip_grad_value_(list(tensors.values()), doc.CLIP_VALUE)
        optimizer.step()
        doc.update_as_written(params, grads, state)
        for name in doc.PARAMETERS:
            assert np.allclose(tensors[name].data, params[name], rtol=1e-12, atol=1e-15), name
