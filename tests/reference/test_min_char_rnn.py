"""The min-char-rnn reference: its gradient is right as written, the one subtle input to it
(hprev), and its two small findings outside the gradient, each shown. The checks every document
shares (the loss, the corrected gradient against autograd and finite differences, the as-written
gradient against GRADIENT_FINDINGS, the update against the optimizer) are in test_interface.py."""
import numpy as np

from tinygrad_rnn.reference import min_char_rnn as doc

from .helpers import assert_only_as_written_overflows, autograd, problem_for, rel_error

# --- the interface ----------------------------------------------------------------------------

def test_interface():
    problem = problem_for(doc, 0)
    assert doc.SOURCE == "002_32216470e957c5f0.txt"
    assert doc.PARAMETERS == ("Wxh", "Whh", "Why", "bh", "by")
    assert problem["params"]["bh"].shape[1] == 1 and problem["hprev"].shape[1] == 1  # columns
    assert doc.GRADIENT_FINDINGS == {}


# --- the gradient -----------------------------------------------------------------------------

def test_hprev_is_a_constant_and_feeds_the_first_dWhh_term():
    # With hprev = 0 the t = 0 term of dWhh vanishes, so the non-zero hprev of sample_problem
    # is what tests it. And the loss does depend on hprev, though no gradient flows into it.
    problem = problem_for(doc, 0)
    zero = dict(problem, hprev=np.zeros_like(problem["hprev"]))
    a = doc.backward_as_written(problem["params"], problem)["Whh"]
    b = doc.backward_as_written(problem["params"], zero)["Whh"]
    assert rel_error(a, b) > 1e-3
    assert doc.loss(problem["params"], problem) != doc.loss(problem["params"], zero)


# --- the other findings -----------------------------------------------------------------------

def test_there_is_one_test_per_other_finding():
    assert len(doc.OTHER_FINDINGS) == 2  # the two tests below


def test_unshifted_softmax_overflows_where_the_shifted_one_does_not():
    problem = problem_for(doc, 0)
    params = {n: a.copy() for n, a in problem["params"].items()}
    params["by"][0] += 800.0                          # one score past exp's limit (~709)
    fixed = assert_only_as_written_overflows(doc, params, problem)
    _, auto = autograd(dict(problem, params=params), doc.tensor_loss)
    for name in doc.PARAMETERS:
        assert rel_error(fixed[name], auto[name]) < 1e-9, name


def test_data_pointer_skips_a_window_that_ends_at_the_last_character():
    seq_length = 5
    size = 3 * seq_length + 1                         # windows at 0, 5, 10 read data[p : p + 6]
    fixed = doc._window_starts(size, seq_length, 6, as_written=False)
    assert fixed == [0, 5, 10, 0, 5, 10]
    assert all(p + seq_length + 1 <= size for p in fixed)
    assert doc._window_starts(size, seq_length, 6) == [0, 5, 0, 5, 0, 5]
