"""Small helpers the tests share: reproducible arrays and corpora."""
import numpy as np


def rand(*shape, seed=0, low=-2.0, high=2.0):
    """A float64 array of the given shape, reproducible by seed."""
    return np.random.default_rng(seed).uniform(low, high, size=shape)


def write_corpus(folder, words, size, seed):
    """A small text of `size` words drawn from `words`: structure a tiny RNN learns quickly."""
    text = "".join(np.random.default_rng(seed).choice(words, size=size))
    path = folder / "corpus.txt"
    path.write_text(text)
    return path
