"""Sampling text from a character-level language model: temperature, top-k, a seeded draw.

Works with any model that maps ids (1, T) and a state to (logits (1, T, V), state), and has a
`vocab` with `encode(text)` and `chars`.
"""
import numpy as np

from ..grad_mode import no_grad


def generate(model, prime, length, temperature=1.0, top_k=None, seed=None):
    """`length` characters sampled from `model` after the text `prime` (not included).

    The model reads `prime`, then repeatedly samples a character from its softmax and reads it:

        p_i = exp(z_i / T) / sum_j exp(z_j / T)

    Temperature T < 1 sharpens the distribution towards the likeliest characters, T > 1 flattens
    it, and T = 0 always takes the likeliest (greedy). With `top_k`, only the k highest-scoring
    characters can be drawn (ties at the k-th score are kept). `seed` makes the draw repeatable.
    """
    return "".join(sample_chars(model, prime, length, temperature, top_k, seed))


def default_prime(vocab):
    """A newline, where a text's lines start, or else the vocabulary's first character."""
    return "\n" if "\n" in vocab else vocab.chars[0]


def sample_chars(model, prime, length, temperature=1.0, top_k=None, seed=None):
    """`generate`, one character at a time as each is drawn (for streaming output)."""
    if not isinstance(length, int) or length < 0:
        raise ValueError(f"length must be a non-negative integer, got {length!r}")
    if not temperature >= 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
    if not prime:
        raise ValueError("prime must have at least one character")
    if model.vocab is None:
        raise ValueError("the model has no vocabulary: set model.vocab to a data.Vocab")
    ids = model.vocab.encode(prime)
    rng = np.random.default_rng(seed)
    with no_grad(), model.evaluating():
        logits, h = model(ids[None, :])
    for _ in range(length):
        i = draw(logits.data[0, -1], temperature, top_k, rng)
        yield model.vocab.chars[i]
        # not around the yield: the caller's code must keep recording graphs, in its own mode
        with no_grad(), model.evaluating():
            logits, h = model(np.array([[i]]), h)


def draw(scores, temperature, top_k, rng):
    """One id drawn from softmax(scores / temperature), restricted to the top_k highest scores."""
    z = scores.astype(np.float64)
    if top_k is not None and top_k < len(z):
        z = np.where(z >= np.sort(z)[-top_k], z, -np.inf)
    if temperature == 0:
        return int(np.argmax(z))
    with np.errstate(over="ignore"):  # z - max <= 0: a tiny T overflows to -inf, exp to 0
        p = np.exp((z - z.max()) / temperature)
    return int(rng.choice(len(p), p=p / p.sum()))
