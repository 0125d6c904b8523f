"""The blog.txt char-rnn reference: its two gradient mistakes and its other findings, each shown.
The checks every document shares (the loss, the corrected gradient against autograd and finite
differences, the as-written gradient against GRADIENT_FINDINGS, the update against the
optimizer) are in test_interface.py."""
import numpy as np
import pytest

from tinygrad_rnn import Tensor
from tinygrad_rnn.reference import blog_char_rnn as doc
from tinygrad_rnn.reference._numerics import softmax

from .helpers import SEEDS, assert_only_as_written_overflows, autograd, problem_for, rel_error


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
    problem = problem_for(doc, 0)
    assert doc.SOURCE == "004_1d85d7b75ceb7b8e.txt"
    assert doc.PARAMETERS == ("Wih", "Whh", "Who", "bh", "bo")
    assert problem["params"]["bh"].shape[0] == 1 and problem["hprev"].shape[0] == 1  # rows
    assert set(doc.GRADIENT_FINDINGS) == set(doc.PARAMETERS)


# --- the gradient -----------------------------------------------------------------------------

def test_target_index_is_the_row_index_zero():
    row = doc._one_hot_row(4, 6)
    assert doc._target_index_as_written(row) == 0
    j = np.nonzero(row == 1)[1][0]
    assert j == 4                                     # the column, [1][0], is the target


def test_column_index_alone_does_not_fix_the_backward_pass():
    # With j = [1][0], the loss line's p[0][j] is right, but the backward pass indexes the
    # (1, V) array with one index: doutput_vec[j] fails for j >= 1, in both lines that use it.
    problem = problem_for(doc, 0)
    Who = problem["params"]["Who"]
    _, ys, _, ps = doc._forward(problem["params"], problem, softmax)
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
    problem = problem_for(doc, seed)
    _, model = autograd(problem, minus_one_everywhere)
    written = doc.backward_as_written(problem["params"], problem)
    for name in ("Who", "bo"):
        assert rel_error(written[name], model[name]) < 1e-9, name


@pytest.mark.parametrize("seed", SEEDS)
def test_recurrence_multiplies_by_Whh_instead_of_its_transpose(seed):
    # Where Whh is symmetric the two agree, and the p - 1 loss then accounts for everything.
    problem = symmetric(problem_for(doc, seed))
    _, model = autograd(problem, minus_one_everywhere)
    written = doc.backward_as_written(problem["params"], problem)
    for name in ("Whh", "Wih", "bh"):
        assert rel_error(written[name], model[name]) < 1e-9, name
    # With the actual, non-symmetric Whh they part.
    problem = problem_for(doc, seed)
    _, model = autograd(problem, minus_one_everywhere)
    written = doc.backward_as_written(problem["params"], problem)
    for name in ("Whh", "Wih", "bh"):
        assert rel_error(written[name], model[name]) > 1e-3, name


# --- the other findings -----------------------------------------------------------------------

def test_there_is_one_test_per_other_finding():
    assert len(doc.OTHER_FINDINGS) == 5  # the five tests below


def test_momentum_buffers_never_change_so_the_step_is_plain_sgd():
    rng = np.random.default_rng(5)
    params = {n: a.copy() for n, a in problem_for(doc, 0)["params"].items()}
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
    fixed, fixed_state = {n: a.copy() for n, a in problem_for(doc, 0)["params"].items()}, {}
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
    problem = problem_for(doc, 0)
    params = problem["params"]
    _, _, _, ps = doc._forward(params, problem, softmax)
    class_zero = -sum(np.log(ps[t][0, 0]) for t in ps)
    reported = doc._reported_loss_as_written(params, problem)
    assert reported == pytest.approx(class_zero, rel=1e-12)
    assert reported != pytest.approx(doc.loss(params, problem), rel=1e-3)


def test_unshifted_softmax_overflows_where_the_shifted_one_does_not():
    problem = problem_for(doc, 0)
    params = {n: a.copy() for n, a in problem["params"].items()}
    params["bo"][0, 0] += 800.0                       # one score past exp's limit (~709)
    assert_only_as_written_overflows(doc, params, problem)
