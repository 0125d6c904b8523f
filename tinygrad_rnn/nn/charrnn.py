"""The character-level language model: an embedding, a stack of recurrent layers, a linear head.

    x_t      = E[c_t]                       embedding: Embedding(V, E), N(0, 1) as PyTorch
    h_t      = recurrence over x_t          rnn: RNN | LSTM | GRU (num_layers layers)
    logits_t = h_t W_out + b_out            head: Linear(H, V)

With `dropout=p`, while training, dropout zeroes a fraction p of the embedding vectors' elements,
of each layer's outputs into the next layer, and of the top layer's outputs into the head (as
PyTorch's word-level language model example does); `eval()` switches it off.

With `embedding_size=None` there is no embedding module: the input is the one-hot vector of c_t,
as in the documents this package started from, and one_hot(c_t) W_xh of the first layer is row
c_t of W_xh, so a row lookup replaces both the one-hot vector and the input GEMM.
"""
import numpy as np

from ..tensor import stack
from .functional import check_probability, dropout
from .layers import Embedding, Linear, _generator, check_ids
from .module import Module
from .recurrent import GRU, LSTM, RNN
from .sampling import generate

STACKS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}  # the cells, by the name config() gives them
DTYPES = ("float32", "float64")  # what a CharRNN is trained, saved and exported in
# The input vector's size by default, measured with benchmarks/quality.py (H=256, B=32, T=64,
# Adam 2e-3, 2000 steps, validation nats/char, RNN cell): one-hot 1.806, E=32 1.681, 64 1.668,
# 128 1.662, 256 1.658. 128 takes most of the gain at half the input GEMM of 256.
DEFAULT_EMBEDDING_SIZE = 128
# what a configuration without these keys means: release 0.1.0 knew only a vanilla RNN on one-hot
# inputs; dropout came with release 0.3.0
EARLIER_RELEASE_DEFAULTS = {"cell": "rnn", "embedding_size": None, "dropout": 0.0}


def complete_config(config):
    """`config` with the keys that earlier releases' configurations lack filled in, as those
    releases built the model. The one place that knows them."""
    return {**EARLIER_RELEASE_DEFAULTS, **config}


class CharRNN(Module):
    """Character-level language model: characters in, logits for the next character out.

    `logits, state = model(ids, state)`: ids (B, T) integers in [0, V); logits (B, T, V). The
    state is h (num_layers, B, H) for cell="rnn" and "gru", the pair (h, c) of such arrays for
    "lstm"; None starts from zeros. To carry it into the next batch without backpropagating into
    the previous one, detach it (each tensor of the pair for the LSTM).

    `dropout` (0 by default) is the fraction of the embedding's, each layer's and the top
    layer's outputs zeroed while training (module docstring); masks are drawn from `rng`.

    `vocab` is for the user to set (e.g. a data.Vocab), so that `generate` and saved checkpoints
    can map between characters and ids.
    """

    def __init__(self, vocab_size, hidden_size, num_layers=1, *, cell="rnn",
                 embedding_size=DEFAULT_EMBEDDING_SIZE, dropout=0.0, dtype=np.float32, rng=None):
        if cell not in STACKS:
            raise ValueError(f"cell must be one of {', '.join(map(repr, STACKS))}, got {cell!r}")
        if embedding_size is not None and (not isinstance(embedding_size, (int, np.integer))
                                           or embedding_size < 1):
            raise ValueError(f"embedding_size must be a positive integer or None, "
                             f"got {embedding_size!r}")
        check_probability(dropout)
        rng = _generator(rng)
        self.vocab_size, self.hidden_size, self.num_layers = vocab_size, hidden_size, num_layers
        self.cell, self.embedding_size, self.dropout, self.rng = cell, embedding_size, dropout, rng
        self.embedding = (None if embedding_size is None
                          else Embedding(vocab_size, embedding_size, dtype=dtype, rng=rng))
        self.rnn = STACKS[cell](embedding_size or vocab_size, hidden_size, num_layers, dtype, rng,
                                dropout=dropout if num_layers > 1 else 0.0)
        self.head = Linear(hidden_size, vocab_size, dtype=dtype, rng=rng)
        self.vocab = None

    def forward(self, ids, state=None):
        outputs, state = self.hidden_states(ids, state)
        return self.head(self._drop(stack(outputs, axis=0))).transpose(1, 0, 2), state

    def hidden_states(self, ids, state=None):
        """`forward` without the output layer: (the top layer's state h_t at every step t, a list
        of T tensors (B, H), the last state). The per-step tensors are the ones the head reads,
        so their gradients are dL/dh_t (see gradflow)."""
        ids = check_ids(ids, self.vocab_size, "character id")
        if ids.ndim != 2:
            raise ValueError(f"CharRNN expects ids of shape (batch, time), got {ids.shape}")
        first = self.rnn.layers[0]
        if self.embedding is None:
            xw = first.lookup(ids.T)
        else:
            xw = first.project(self._drop(self.embedding(ids.T)))
        return self.rnn.scan(xw, state)

    def _drop(self, x):
        return dropout(x, self.dropout, self.training, self.rng)

    def config(self):
        """What rebuilds this model's shape, as JSON-ready values: `CharRNN.from_config(config)`."""
        return {"vocab_size": self.vocab_size, "hidden_size": self.hidden_size,
                "num_layers": self.num_layers, "cell": self.cell,
                "embedding_size": self.embedding_size, "dropout": self.dropout,
                "dtype": self.head.weight.dtype.name}

    @classmethod
    def from_config(cls, config, rng=None):
        """A new model (freshly initialised) of the shape `config()` describes."""
        config = complete_config(config)
        return cls(**dict(config, dtype=np.dtype(config["dtype"])), rng=rng)

    @staticmethod
    def parameter_count(config):
        """How many numbers a model of `config` holds, without building it."""
        config = complete_config(config)
        V, H, L, E = (config[k] for k in ("vocab_size", "hidden_size", "num_layers",
                                          "embedding_size"))
        gH = STACKS[config["cell"]].cell.gates * H
        biases = 2 if config["cell"] == "gru" else 1
        inputs = (E or V) + (L - 1) * H  # the input sizes of all the layers, added up
        return (V * E if E else 0) + inputs * gH + L * (H * gH + biases * gH) + H * V + V

    def generate(self, prime, length, temperature=1.0, top_k=None, seed=None):
        """Sample `length` characters after `prime`: see `tinygrad_rnn.nn.sampling.generate`."""
        return generate(self, prime, length, temperature=temperature, top_k=top_k, seed=seed)
