"""Scoring a model on the validation text, the sample shown at each evaluation, and the check
that training hasn't diverged.

Losses are in nats per character (natural log); bits per character = nats / ln 2. A model that
knows nothing scores ln V (4.17 nats for 65 characters).
"""
import math

import numpy as np

from ..grad_mode import no_grad
from ..nn import cross_entropy
from ..nn.sampling import default_prime, generate
from . import carry

EVAL_STREAMS, EVAL_SEQ_LEN = 16, 256  # validation is read as 16 parallel streams
SAMPLE_LENGTH, SAMPLE_TEMPERATURE = 200, 0.8  # the sample shown at each evaluation


@no_grad()
def evaluate(model, dataset, streams=EVAL_STREAMS, seq_len=EVAL_SEQ_LEN):
    """Mean cross-entropy (nats/char) of `model` over the whole validation text of `dataset`.

    Every validation character is predicted once, from all the characters before it in its
    stream: the state is carried from chunk to chunk (see CharDataset.validation_chunks).
    """
    total, count, state = 0.0, 0, None
    with model.evaluating():  # no dropout
        for inputs, targets, carried in dataset.validation_chunks(streams, seq_len):
            logits, state = model(inputs, carry.rows(state, carried))
            total += cross_entropy(logits, targets, reduction="sum").item()
            count += targets.size
    return total / count


def evaluation_sample(model, seed, step):
    """The sample shown at the evaluation after `step` of a run seeded with `seed`: drawn from a
    generator of its own, so that showing it (or not, when an evaluation is added by a stop and
    a resume) leaves the run's generator, which draws the dropout masks, untouched."""
    return generate(model, default_prime(model.vocab), SAMPLE_LENGTH,
                    temperature=SAMPLE_TEMPERATURE, seed=(seed, step))


def non_finite(loss, model):
    """What, if anything, is NaN or Inf after a step: the loss, or a parameter (a finite loss
    doesn't rule out an update that overflowed, and an Inf weight can hide behind a tanh)."""
    if not math.isfinite(loss):
        return f"the loss is {loss}"
    for name, p in model.named_parameters():
        if not np.isfinite(p.data).all():
            return f"parameter {name} holds NaN or Inf"
    return None
