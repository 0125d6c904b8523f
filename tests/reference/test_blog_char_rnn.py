"""The blog.txt char-rnn reference: its loss and corrected gradient against autograd and finite
differences, its two gradient mistakes, its other findings, and its momentum step."""
import numpy as np
import pytest

from tinygrad_rnn import Tensor
from tinygrad_rnn.reference import blog_char_rnn as doc

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
            g[i] = (up - doc.loss(shifted, problem)) / (2 * eps)
        grads[name] = g
    return grads


def minus_one_everywhere(tparams, problem):
    """A loss whose output error is the document's p_t - 1: the gradient of
    logsumexp(o_t) - sum_k o_t[k], i.e. -log p_t[0] - sum_{k >= 1} o_t[k]. The recurrence is the
    true one, so this isolates the first mistake from the second."""
    Wih, Whh, Who, bh, bo = (tparams[n] for n in doc.PARAMETERS)
    vocab = Wih.shape[0]
    h = Tensor(problem["hprev"])
    total = 0.0
    for ix in problem["inputs"]:
        h = (doc._one_hot_row(ix, vocab) @ Wih + h @ Whh + bh).tanh()
        o = h @ Who + bo
        total = -o.log_softmax(axis=1)[0, 0] - o[0, 1:].sum() + total
    return total


def symmetric(problem):
    """The same problem with Whh replaced by its symmetric part, where Whh^T = Whh."""
    params = dict(problem["params"])
    params["Whh"] = (params["Whh"] + params["Whh"].T) / 2
    return dict(problem, params=params)


# --- the interface ----------------------------------------------------------------------------

def test_interface():
    problem = problem_for(0)
    assert doc.SOURCE == "004_1d85d7b75ceb7b8e.txt"
    assert tuple(problem["params"]) == doc.PARAMETERS == ("Wih", "Whh", "Who", "bh", "bo")
    assert all(a.dtype == np.float64 for a in problem["params"].values())
    assert problem["params"]["bh"].shape[0] == 1 and problem["hprev"].shape[0] == 1  # rows
    assert problem["targets"][:-1] == problem["inputs"][1:]
    assert set(doc.GRADIENT_FINDINGS) == set(doc.PARAMETERS)
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
def test_as_written_is_wrong_for_every_flagged_parameter(seed):
    problem = problem_for(seed)
    _, auto = autograd(problem)
    written = doc.backward_as_written(problem["params"], problem)
    for name in doc.GRADIENT_FINDINGS:
        assert rel_error(written[name], auto[name]) > 1e-2, name


def test_target_index_is_the_row_index_zero():
    row = doc._one_hot_row(4, 6)
    assert doc._target_index_as_written(row) == 0
    j = np.nonzero(row == 1)[1][0]
    assert j == 4                                     # the column, [1][0], is the target


def test_column_index_alone_does_not_fix_the_backward_pass():
    # With j = [1][0], the loss line's p[0][j] is right, but the backward pass indexes the
    # (1, V) array with one index: doutput_vec[j] fails for j >= 1, in both lines that use it.
    problem = problem_for(0)
    Who = problem["params"]["Who"]
    _, ys, _, ps = doc._forward(problem["params"], problem, doc._softmax)
    p, y = ps[0], ys[0]
    j = np.nonzero(y == 1)[1][0]
    assert p[0][j] == p[0, problem["targets"][0]]     # the loss line
    for target in range(1, p.shape[1]):
        with pytest.raises(IndexError):
            np.copy(p)[target] -= 1.0                 # doutput_vec[j] -= 1
        with pytest.raises(IndexError):
            np.dot(p[target].T, Who.T)                # doutput_vec[j].T in dhidden_state
    # The fix: index the column, and use the whole row for dh.
    d_out = np.copy(p)
    d_out[0, j] -= 1.0
    assert np.allclose(d_out, p - y, rtol=0, atol=1e-15)
    assert np.dot(d_out, Who.T).shape == problem["hprev"].shape


@pytest.mark.parametrize("seed", SEEDS)
def test_output_gradients_use_p_minus_one(seed):
    # Who and bo depend only on the output error, and equal autograd of the p - 1 loss.
    problem = problem_for(seed)
    _, model = autograd(problem, minus_one_everywhere)
    written = doc.backward_as_written(problem["params"], problem)
    for name in ("Who", "bo"):
        assert rel_error(written[name], model[name]) < 1e-9, name


@pytest.mark.parametrize("seed", SEEDS)
def test_recurrence_multiplies_by_Whh_instead_of_its_transpose(seed):
    # Where Whh is symmetric the two agree, and the p - 1 loss then accounts for everything.
    problem = symmetric(problem_for(seed))
    _, model = autograd(problem, minus_one_everywhere)
    written = doc.backward_as_written(problem["params"], problem)
    for name in ("Whh", "Wih", "bh"):
        assert rel_error(written[name], model[name]) < 1e-9, name
    # With the actual, non-symmetric Whh they part.
    problem = problem_for(seed)
    _, model = autograd(problem, minus_one_everywhere)
    written = doc.backward_as_written(problem["params"], problem)
    for name in ("Whh", "Wih", "bh"):
        assert rel_error(written[name], model[name]) > 1e-3, name


# --- the other findings -----------------------------------------------------------------------

def test_there_is_one_test_per_other_finding():
    assert len(doc.OTHER_FINDINGS) == 5  # the five tests below


def test_momentum_buffers_never_change_so_the_step_is_plain_sgd():
    rng = np.random.default_rng(5)
    params = {n: a.copy() for n, a in problem_for(0)["params"].items()}
    plain = {n: a.copy() for n, a in params.items()}
    state = {}
    for _ in range(3):
        grads = {n: rng.normal(0.0, 2.0, a.shape) for n, a in params.items()}
        doc.update_as_written(params, grads, state)
        for name in doc.PARAMETERS:
            plain[name] -= 0.01 * np.clip(grads[name], -3.0, 3.0)
    for name in doc.PARAMETERS:
        assert np.allclose(params[name], plain[name], rtol=1e-12), name
        assert not state[name].any(), name
    # The intended momentum step differs from the second step on.
    fixed, fixed_state = {n: a.copy() for n, a in problem_for(0)["params"].items()}, {}
    start = {n: a.copy() for n, a in fixed.items()}
    for _ in range(2):
        doc.update_corrected(fixed, {n: np.ones_like(a) for n, a in fixed.items()}, fixed_state)
    for name in doc.PARAMETERS:
        assert np.allclose(start[name] - fixed[name], 0.01 + (0.9 * 0.01 + 0.01), rtol=1e-12)


def test_encoding_is_by_position_not_by_character():
    text = "hello hello"
    vocab, codes = doc._encode_as_written(text)
    assert vocab == len(text) and codes == list(range(len(text)))
    assert codes[2] != codes[3]                       # the two l's of "hello" get different codes
    vocab, codes = doc._encode_corrected(text)
    assert vocab == len(set(text)) == 5
    assert codes[2] == codes[3] == codes[8] and codes[:5] == codes[6:]
    # The notebook's first loss, 176.897 over 20 steps at near-uniform p, is 20 ln V for
    # V of about 6900 classes: a class per character of the file, not per distinct character.
    assert 6800 < np.exp(176.897 / 20) < 7000


def test_last_character_is_never_a_target():
    n, window = 41, 20
    written = doc._windows(n, window)
    fixed = doc._windows(n, window, as_written=False)
    assert max(written[-1][1]) == n - 2
    assert max(fixed[-1][1]) == n - 1
    for inputs, targets in written + fixed:           # each target is the next position
        assert targets == [i + 1 for i in inputs] and max(targets) <= n - 1
    assert [i for w in fixed for i in w[0]] == list(range(n - 1))  # every pair, once


def test_reported_loss_reads_class_zero():
    problem = problem_for(0)
    params = problem["params"]
    _, _, _, ps = doc._forward(params, problem, doc._softmax)
    class_zero = -sum(np.log(ps[t][0, 0]) for t in ps)
    reported = doc._reported_loss_as_written(params, problem)
    assert reported == pytest.approx(class_zero, rel=1e-12)
    assert reported != pytest.approx(doc.loss(params, problem), rel=1e-3)


def test_unshifted_softmax_overflows_where_the_shifted_one_does_not():
    problem = problem_for(0)
    params = {n: a.copy() for n, a in problem["params"].items()}
    params["bo"][0, 0] += 800.0                       # one score past exp's limit (~709)
    with np.errstate(over="ignore", invalid="ignore"):
        written = doc.backward_as_written(params, problem)
    assert any(np.isnan(g).any() for g in written.values())
    fixed = doc.backward_corrected(params, problem)
    assert all(np.isfinite(g).all() for g in fixed.values())
    assert np.isfinite(doc.loss(params, problem))


# --- the update -------------------------------------------------------------------------------

def test_optimizer_steps_equal_update_corrected():
    from tinygrad_rnn.nn.utils import clip_grad_value_

    params = {n: a.copy() for n, a in problem_for(0)["params"].items()}
    tensors = [Tensor(params[n].copy(), requires_grad=True) for n in doc.PARAMETERS]
    optimizer = doc.make_optimizer(tensors)
    state, rng = {}, np.random.default_rng(3)
    for _ in range(3):                                # several steps, so the momentum matters
        grads = {n: rng.normal(0.0, 3.0, a.shape) for n, a in params.items()}  # some past 3
        for name, t in zip(doc.PARAMETERS, tensors):
            t.grad = grads[name].copy()
        clip_grad_value_(tensors, doc.CLIP_VALUE)
        optimizer.step()
        doc.update_corrected(params, grads, state)
        for name, t in zip(doc.PARAMETERS, tensors):
            assert np.allclose(t.data, params[name], rtol=1e-12, atol=1e-15), name
