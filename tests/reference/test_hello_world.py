"""The "hello world" notebook reference: its hidden-layer gradient mistakes and its initialisation
finding, each shown. The checks every document shares (the loss, the corrected gradient against
autograd and finite differences, the as-written gradient against GRADIENT_FINDINGS, the update
against the optimizer) are in test_interface.py."""
import numpy as np
import pytest

from tinygrad_rnn import Tensor
from tinygrad_rnn.reference import hello_world as doc

from .helpers import SEEDS, autograd, problem_for, rel_error


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
    assert doc.SOURCE == "001_9a39c453135f5c77.txt"
    assert doc.PARAMETERS == ("Wxh", "Whh", "bh", "Why", "by")
    assert set(doc.GRADIENT_FINDINGS) == {"Wxh", "Whh", "bh"}


# --- the gradient ---------------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_wxh_and_bh_get_no_gradient_through_time(seed):
    # As written, Wxh and bh get exactly the gradient of the loss with the state detached.
    problem = problem_for(doc, seed)
    _, truncated = autograd(problem, truncated_tensor_loss)
    written = doc.backward_as_written(problem["params"], problem)
    for name in ("Wxh", "bh"):
        assert rel_error(written[name], truncated[name]) < 1e-9, name


@pytest.mark.parametrize("seed", SEEDS)
def test_whh_uses_the_current_state_instead_of_the_previous_one(seed):
    # Truncated or not, dWhh must pair dz1_t with h_{t-1}. As written, it is the truncated
    # gradient with h_t in its place: the difference is sum_t dz1_t^T (h_t - h_{t-1}).
    problem = problem_for(doc, seed)
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
    problem = problem_for(doc, 0)
    problem["inputs"], problem["targets"] = problem["inputs"][:1], problem["targets"][:1]
    _, auto = autograd(problem, doc.tensor_loss)
    written = doc.backward_as_written(problem["params"], problem)
    assert np.all(auto["Whh"] == 0.0)
    assert np.abs(written["Whh"]).max() > 1e-3
    for name in ("Wxh", "bh", "Why", "by"):
        assert rel_error(written[name], auto[name]) < 1e-12, name


@pytest.mark.parametrize("seed", SEEDS)
def test_the_commented_out_recurrence_would_be_wrong_too(seed):
    problem = problem_for(doc, seed)
    _, auto = autograd(problem, doc.tensor_loss)
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
