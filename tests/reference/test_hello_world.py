"""The "hello world" notebook reference: its gradients against autograd and finite differences,
its hidden-layer gradient mistakes, its initialisation finding, and its SGD step."""
import numpy as np
import pytest

from tinygrad_rnn import Tensor
from tinygrad_rnn.reference import hello_world as doc

SEEDS = [0, 1, 2, 3]


def problem_for(seed):
    return doc.sample_problem(np.random.default_rng(seed))


def rel_error(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(a), np.linalg.norm(b), 1e-300)


def autograd(problem, loss_fn=doc.tensor_loss):
    """(loss value, gradients) from a Tensor loss and backward()."""
    tparams = {n: Tensor(a.copy(), requires_grad=True) for n, a in problem["params"].items()}
    out = loss_fn(tparams, problem)
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


def truncated_tensor_loss(tparams, problem):
    """The notebook's loss with the state detached between steps: its gradient is what you get
    when no gradient flows back through time."""
    Wxh, Whh, bh, Why, by = (tparams[n] for n in doc.PARAMETERS)
    h = Tensor(np.zeros((1, Whh.shape[0])))
    terms = []
    for ix, y in zip(problem["inputs"], problem["targets"]):
        x = Tensor(doc._one_hot(ix, Wxh.shape[1]))
        h = (x @ Wxh.T + h.detach() @ Whh.T + bh).tanh()
        terms.append(-(h @ Why.T + by).log_softmax(axis=1)[0, y])
    return sum(terms[1:], terms[0])


# --- the interface --------------------------------------------------------------------------

def test_interface():
    problem = problem_for(0)
    assert doc.SOURCE == "001_9a39c453135f5c77.txt"
    assert tuple(problem["params"]) == doc.PARAMETERS == ("Wxh", "Whh", "bh", "Why", "by")
    assert set(doc.GRADIENT_FINDINGS) <= set(doc.PARAMETERS)
    assert all(isinstance(f, str) for f in doc.OTHER_FINDINGS)
    assert all(a.dtype == np.float64 for a in problem["params"].values())
    assert problem["targets"][:-1] == problem["inputs"][1:]  # inp = data[:-1], target = data[1:]


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
def test_wxh_and_bh_get_no_gradient_through_time(seed):
    # As written, Wxh and bh get exactly the gradient of the loss with the state detached.
    problem = problem_for(seed)
    _, truncated = autograd(problem, truncated_tensor_loss)
    written = doc.backward_as_written(problem["params"], problem)
    for name in ("Wxh", "bh"):
        assert rel_error(written[name], truncated[name]) < 1e-9, name


@pytest.mark.parametrize("seed", SEEDS)
def test_whh_uses_the_current_state_instead_of_the_previous_one(seed):
    # Truncated or not, dWhh must pair dz1_t with h_{t-1}. As written, it is the truncated
    # gradient with h_t in its place: the difference is sum_t dz1_t^T (h_t - h_{t-1}).
    problem = problem_for(seed)
    params = problem["params"]
    _, truncated = autograd(problem, truncated_tensor_loss)
    _, hs, ps = doc._forward(params, problem)
    shift = np.zeros_like(params["Whh"])
    for t, y in enumerate(problem["targets"]):
        dz2 = ps[t] - doc._one_hot(y, ps[t].shape[1])
        dz1 = (1.0 - hs[t] ** 2) * (dz2 @ params["Why"])
        h_prev = hs[t - 1] if t > 0 else np.zeros_like(hs[t])
        shift += dz1.T @ (hs[t] - h_prev)
    written = doc.backward_as_written(params, problem)
    assert rel_error(written["Whh"], truncated["Whh"] + shift) < 1e-9


def test_whh_is_wrong_even_for_a_single_step():
    # One step has no recurrence, so Wxh and bh come out right; but h_{-1} = 0 makes the true dWhh
    # zero, while the notebook's, built from h_0, is not.
    problem = problem_for(0)
    problem["inputs"], problem["targets"] = problem["inputs"][:1], problem["targets"][:1]
    _, auto = autograd(problem)
    written = doc.backward_as_written(problem["params"], problem)
    assert np.all(auto["Whh"] == 0.0)
    assert np.abs(written["Whh"]).max() > 1e-3
    for name in ("Wxh", "bh", "Why", "by"):
        assert rel_error(written[name], auto[name]) < 1e-12, name


@pytest.mark.parametrize("seed", SEEDS)
def test_the_commented_out_recurrence_would_be_wrong_too(seed):
    problem = problem_for(seed)
    _, auto = autograd(problem)
    commented = doc._bptt(problem["params"], problem, carry="commented", whh_input="previous")
    for name in ("Wxh", "Whh", "bh"):
        assert rel_error(commented[name], auto[name]) > 1e-3, name


# --- the other findings -----------------------------------------------------------------------

def test_there_is_one_test_per_other_finding():
    assert len(doc.OTHER_FINDINGS) == 1  # the test below


def test_unit_variance_initialisation_saturates_the_hidden_layer():
    text = "hello world"
    chars = sorted(set(text))
    ix = [chars.index(ch) for ch in text]
    problem = {"inputs": ix[:-1], "targets": ix[1:]}
    for seed in range(3):
        params = doc._init_params_as_written(np.random.default_rng(seed), len(chars), 64)
        assert doc._saturated_fraction(params, problem) > 0.5
        # Dividing each weight matrix by sqrt(fan_in) leaves almost every unit responsive.
        params["Wxh"] /= np.sqrt(len(chars))
        params["Whh"] /= np.sqrt(64)
        assert doc._saturated_fraction(params, problem) < 0.1


# --- the update -------------------------------------------------------------------------------

def test_update_clips_then_takes_a_gradient_step():
    params = {n: a.copy() for n, a in problem_for(0)["params"].items()}
    grads = {n: np.full_like(a, 10.0) for n, a in params.items()}  # clipped to 1
    before = {n: a.copy() for n, a in params.items()}
    doc.update_as_written(params, grads, {})
    for name in doc.PARAMETERS:
        assert np.allclose(before[name] - params[name], 0.01, rtol=1e-12), name
    assert np.all(grads["Wxh"] == 10.0)  # the caller's gradients are left alone


def test_optimizer_steps_equal_update_as_written():
    from tinygrad_rnn.nn.utils import clip_grad_value_

    params = {n: a.copy() for n, a in problem_for(0)["params"].items()}
    tensors = {n: Tensor(a.copy(), requires_grad=True) for n, a in params.items()}
    optimizer = doc.make_optimizer([tensors[n] for n in doc.PARAMETERS])
    state, rng = {}, np.random.default_rng(3)
    for _ in range(3):
        grads = {n: rng.normal(0.0, 2.0, a.shape) for n, a in params.items()}  # some past the clip
        for name, t in tensors.items():
            t.grad = grads[name].copy()
        clip_grad_value_(list(tensors.values()), doc.CLIP_VALUE)
        optimizer.step()
        doc.update_as_written(params, grads, state)
        for name in doc.PARAMETERS:
            assert np.allclose(tensors[name].data, params[name], rtol=1e-12, atol=1e-15), name
