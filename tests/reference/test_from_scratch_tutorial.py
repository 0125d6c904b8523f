"""The "Implementing RNN from scratch" reference: its one gradient mistake (dc) and its other
findings, each shown. The checks every document shares (the loss, the corrected gradient against
autograd and finite differences, the as-written gradient against GRADIENT_FINDINGS, the update
against the optimizer) are in test_interface.py."""
import itertools

import numpy as np
import pytest

from tinygrad_rnn.reference import from_scratch_tutorial as doc
from tinygrad_rnn.reference._numerics import softmax

from .helpers import SEEDS, autograd, problem_for, rel_error

# --- the interface --------------------------------------------------------------------------

def test_interface():
    assert doc.SOURCE == "000_54715d8477c49f0c.txt"
    assert doc.PARAMETERS == ("U", "W", "V", "b", "c")
    assert set(doc.GRADIENT_FINDINGS) == {"c"}


# --- the gradient ---------------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_dc_stays_zero_instead_of_summing_output_errors(seed):
    problem = problem_for(doc, seed)
    params = problem["params"]
    _, auto = autograd(problem, doc.tensor_loss)
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
    params = problem_for(doc, 0)["params"]
    prompt = [1, 4, 2]
    as_written = doc._predict_first_probs_as_written(params, prompt)
    corrected = doc._predict_first_probs_corrected(params, prompt)
    assert not np.allclose(as_written, corrected)
    # The two agree when there is nothing to merge: a one-character prompt.
    assert np.allclose(doc._predict_first_probs_as_written(params, [3]),
                       doc._predict_first_probs_corrected(params, [3]), rtol=1e-12)


def test_training_sample_pairs_the_last_state_with_the_first_character():
    problem = problem_for(doc, 0)
    params, hprev, first = problem["params"], problem["hprev"], problem["inputs"][0]
    _, hs, ps = doc._forward(params, problem)
    last = len(problem["inputs"]) - 1
    # Seeding inputs[0] from the state that preceded it continues the text as training saw it...
    assert np.allclose(doc._sample_first_probs(params, hprev, first), ps[0], rtol=1e-12)
    # ...the document seeds it from the state after the batch, which matches no step of the text.
    as_written = doc._sample_first_probs(params, hs[last], first)
    assert not any(np.allclose(as_written, ps[t]) for t in ps)


def test_sample_and_predict_softmax_overflows_where_the_class_softmax_does_not():
    params = {n: a.copy() for n, a in problem_for(doc, 0)["params"].items()}
    params["V"] *= 1e3                                      # logits of order 1000
    h = np.full((params["W"].shape[0], 1), 0.5)
    with np.errstate(over="ignore", invalid="ignore"):
        naive = doc._sample_first_probs(params, h, 0)
    shifted = doc._sample_first_probs(params, h, 0, normalize=softmax)
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
