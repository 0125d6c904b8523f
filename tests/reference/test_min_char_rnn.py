"""The min-char-rnn reference: its gradient is right as written (against autograd and finite
differences), its two small findings outside the gradient, and its Adagrad step."""
import numpy as np
import pytest

from tinygrad_rnn import Tensor
from tinygrad_rnn.reference import min_char_rnn as doc

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
            g[i] = (up - doc.loss(shifted, problem)) / (2 * eps)
        grads[name] = g
    return grads


# --- the interface ----------------------------------------------------------------------------

def test_interface():
    problem = problem_for(0)
    assert doc.SOURCE == "002_32216470e957c5f0.txt"
    assert tuple(problem["params"]) == doc.PARAMETERS == ("Wxh", "Whh", "Why", "bh", "by")
    assert all(a.dtype == np.float64 for a in problem["params"].values())
    assert problem["params"]["bh"].shape[1] == 1 and problem["hprev"].shape[1] == 1  # columns
    assert problem["targets"][:-1] == problem["inputs"][1:]
    assert doc.GRADIENT_FINDINGS == {}
    assert all(isinstance(f, str) for f in doc.OTHER_FINDINGS)


# --- the gradient -----------------------------------------------------------------------------

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
def test_as_written_equals_autograd_for_every_parameter(seed):
    problem = problem_for(seed)
    _, auto = autograd(problem)
    written = doc.backward_as_written(problem["params"], problem)
    for name in doc.PARAMETERS:
        assert rel_error(written[name], auto[name]) < 1e-9, name


def test_hprev_is_a_constant_and_feeds_the_first_dWhh_term():
    # With hprev = 0 the t = 0 term of dWhh vanishes, so the non-zero hprev of sample_problem
    # is what tests it. And the loss does depend on hprev, though no gradient flows into it.
    problem = problem_for(0)
    zero = dict(problem, hprev=np.zeros_like(problem["hprev"]))
    a = doc.backward_as_written(problem["params"], problem)["Whh"]
    b = doc.backward_as_written(problem["params"], zero)["Whh"]
    assert rel_error(a, b) > 1e-3
    assert doc.loss(problem["params"], problem) != doc.loss(problem["params"], zero)


# --- the other findings -----------------------------------------------------------------------

def test_there_is_one_test_per_other_finding():
    assert len(doc.OTHER_FINDINGS) == 2  # the two tests below


def test_unshifted_softmax_overflows_where_the_shifted_one_does_not():
    problem = problem_for(0)
    params = {n: a.copy() for n, a in problem["params"].items()}
    params["by"][0] += 800.0                          # one score past exp's limit (~709)
    with np.errstate(over="ignore", invalid="ignore"):
        written = doc.backward_as_written(params, problem)
    assert any(np.isnan(g).any() for g in written.values())
    fixed = doc.backward_corrected(params, problem)
    assert all(np.isfinite(g).all() for g in fixed.values())
    assert np.isfinite(doc.loss(params, problem))
    _, auto = autograd(dict(problem, params=params))
    for name in doc.PARAMETERS:
        assert rel_error(fixed[name], auto[name]) < 1e-9, name


def test_data_pointer_skips_a_window_that_ends_at_the_last_character():
    seq_length = 5
    size = 3 * seq_length + 1                         # windows at 0, 5, 10 read data[p : p + 6]
    fixed = doc._window_starts(size, seq_length, 6, as_written=False)
    assert fixed == [0, 5, 10, 0, 5, 10]
    assert all(p + seq_length + 1 <= size for p in fixed)
    assert doc._window_starts(size, seq_length, 6) == [0, 5, 0, 5, 0, 5]


# --- the update -------------------------------------------------------------------------------

def test_update_clips_then_takes_adagrad_steps():
    params = {n: a.copy() for n, a in problem_for(0)["params"].items()}
    grads = {n: np.full_like(a, 10.0) for n, a in params.items()}  # clipped to 5
    before = {n: a.copy() for n, a in params.items()}
    doc.update_as_written(params, grads, {})
    for name in doc.PARAMETERS:
        step = 0.1 * 5.0 / np.sqrt(25.0 + 1e-8)
        assert np.allclose(before[name] - params[name], step, rtol=1e-12), name


def test_optimizer_steps_equal_update_as_written():
    from tinygrad_rnn.nn.utils import clip_grad_value_

    params = {n: a.copy() for n, a in problem_for(0)["params"].items()}
    tensors = [Tensor(params[n].copy(), requires_grad=True) for n in doc.PARAMETERS]
    optimizer = doc.make_optimizer(tensors)
    state, rng = {}, np.random.default_rng(3)
    for _ in range(3):                                # several steps, so the memory matters
        grads = {n: rng.normal(0.0, 4.0, a.shape) for n, a in params.items()}  # some past 5
        for name, t in zip(doc.PARAMETERS, tensors):
            t.grad = grads[name].copy()
        clip_grad_value_(tensors, doc.CLIP_VALUE)
        optimizer.step()
        doc.update_as_written(params, grads, state)
        for name, t in zip(doc.PARAMETERS, tensors):
            assert np.allclose(t.data, params[name], rtol=1e-12, atol=1e-15), name
