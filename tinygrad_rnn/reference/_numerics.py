"""The numerically stable softmax and log-softmax that the references share.

Each takes one distribution's scores, a column or a row vector: the max and the sum run over the
whole array.
"""
import numpy as np


def softmax(scores):
    """exp(s) / sum(exp(s)), as exp(s - max s) / sum(exp(s - max s)).

    The shift cancels between numerator and denominator, and makes every exponent <= 0, so
    nothing overflows however large the scores.
    """
    e = np.exp(scores - np.max(scores))
    return e / np.sum(e)


def log_softmax(scores):
    """log softmax(s) = (s - max s) - log sum exp(s - max s): finite even where softmax(s)
    underflows to 0."""
    shifted = scores - np.max(scores)
    return shifted - np.log(np.sum(np.exp(shifted)))
