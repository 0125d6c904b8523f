"""Vanilla (Elman) recurrent layers and the character-level model built from them.

One step of a layer, in row-vector convention (batch along the rows):

    h_t = tanh(x_t W_xh + h_{t-1} W_hh + b)        W_xh: (input, H)   W_hh: (H, H)   b: (H,)

Only the h_{t-1} W_hh term has to wait for the previous step. So a layer first computes
x_t W_xh + b for all time steps at once (one GEMM over (T*B, input)), splits the result over time
with a single `unbind`, runs the short loop `h = tanh(xw_t + h W_hh)`, and joins the states with a
single `stack`. Backward then does per step only what `h W_hh` and tanh need; the input
projection and its gradient are one operation each, over all steps.

The public shapes are batch-first, as PyTorch's `batch_first=True`: x is (B, T, input), outputs
(B, T, H). Inside, the layers work time-major, (T, B, ...): then the slice for step t is one
contiguous block of memory, which every per-step op reads and writes faster than the strided
x[:, t]. The hidden states between layers or batches are (num_layers, B, H), as in PyTorch.
Unlike PyTorch, which keeps two bias vectors b_ih and b_hh per layer, a layer here has one:
their sum.
"""
import numpy as np

from ..ops import TanhAddMatMul
from ..tensor import Tensor, stack
from .layers import Linear, _generator, check_ids
from .module import Module, Parameter
from .sampling import generate


class RNNCell(Module):
    """One recurrent layer: h' = tanh(x W_xh + h W_hh + b).

    Initialisation as PyTorch's RNN: every entry uniform in [-k, k] with k = 1/sqrt(hidden_size).
    `forward` takes one step; `project` and `scan` are the two halves of a whole sequence.
    """

    def __init__(self, input_size, hidden_size, dtype=np.float32, rng=None):
        rng = _generator(rng)
        k = 1.0 / np.sqrt(hidden_size)
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_xh = Parameter(rng.uniform(-k, k, (input_size, hidden_size)).astype(dtype))
        self.weight_hh = Parameter(rng.uniform(-k, k, (hidden_size, hidden_size)).astype(dtype))
        self.bias = Parameter(rng.uniform(-k, k, hidden_size).astype(dtype))

    def forward(self, x, h=None):
        """One step: x (B, input), h (B, H) or None for zeros -> h' (B, H)."""
        z = x @ self.weight_xh + self.bias
        return (z if h is None else z + h @ self.weight_hh).tanh()

    def project(self, x):
        """x W_xh + b for every step at once: x (T, B, input) -> (T, B, H), as one GEMM."""
        T, B, _ = x.shape
        return (x.reshape(T * B, self.input_size) @ self.weight_xh + self.bias).reshape(T, B, -1)

    def scan(self, xw, h=None):
        """The recurrence over projected inputs xw = x W_xh + b, time-major: (T, B, H).

        Starts from h (B, H), or from zeros when h is None: then the first step is just
        tanh(xw_0), with no multiplication by a zero matrix. Returns (all states (T, B, H), the
        last state (B, H)).
        """
        states = []
        for xw_t in xw.unbind(axis=0):
            # tanh(xw_t + h W_hh) as one fused node: the same values and gradients as the three
            # ops it replaces (tested), at a third of the per-step bookkeeping
            h = xw_t.tanh() if h is None else TanhAddMatMul.apply(xw_t, h, self.weight_hh)
            states.append(h)
        return stack(states, axis=0), h

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}"


class RNN(Module):
    """A stack of `num_layers` RNNCells: each layer's output sequence is the next one's input.

    `rnn(x, h0)` with x (B, T, input_size) and h0 (num_layers, B, H) or None (zeros) returns
    (outputs of the last layer (B, T, H), last state of every layer h_n (num_layers, B, H)).
    """

    def __init__(self, input_size, hidden_size, num_layers=1, dtype=np.float32, rng=None):
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        rng = _generator(rng)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.layers = [RNNCell(input_size if i == 0 else hidden_size, hidden_size, dtype, rng)
                       for i in range(num_layers)]

    def forward(self, x, h0=None):
        x = x if isinstance(x, Tensor) else Tensor(x)
        if x.ndim != 3 or x.shape[2] != self.input_size:
            raise ValueError(f"RNN expects x of shape (batch, time, {self.input_size}), "
                             f"got {x.shape}")
        out, h = self.forward_projected(self.layers[0].project(x.transpose(1, 0, 2)), h0)
        return out.transpose(1, 0, 2), h

    def forward_projected(self, xw, h0=None):
        """`forward` from the first layer's projection xw = x W_xh + b instead of x, time-major.

        xw is (T, B, H) and so are the outputs returned. A caller that can compute xw more
        cheaply than a GEMM (CharRNN: a row lookup) enters here.
        """
        B = xw.shape[1]
        if h0 is None:
            initial = [None] * self.num_layers
        else:
            h0 = h0 if isinstance(h0, Tensor) else Tensor(np.asarray(h0, dtype=xw.dtype))
            if h0.shape != (self.num_layers, B, self.hidden_size):
                raise ValueError(f"h0 must have shape (num_layers, batch, hidden) = "
                                 f"{(self.num_layers, B, self.hidden_size)}, got {h0.shape}")
            initial = h0.unbind(axis=0)
        out, last = None, []
        for cell, h in zip(self.layers, initial):
            out, h = cell.scan(xw if out is None else cell.project(out), h)
            last.append(h)
        return out, stack(last, axis=0)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"


class CharRNN(Module):
    """Character-level language model: characters in, logits for the next character out.

        xw_t = E[c_t] + b_0                    E = rnn.layers[0].weight_xh, (V, H)
        h_t  = RNN recurrence                  (num_layers layers)
        logits_t = h_t W_out + b_out           head: Linear(H, V)

    The embedding E is the first layer's input weight itself: a one-hot x_t times W_xh is row
    c_t of W_xh, so the lookup replaces both the one-hot vector and an input GEMM.

    `logits, h = model(ids, h0)`: ids (B, T) integers in [0, V), h0 (num_layers, B, H) or None;
    logits (B, T, V), h (num_layers, B, H). To carry h into the next batch without
    backpropagating into the previous one, pass `h.detach()`.

    `vocab` is for the user to set (e.g. the list of characters), so that `generate` and saved
    checkpoints can map between characters and ids.
    """

    def __init__(self, vocab_size, hidden_size, num_layers=1, dtype=np.float32, rng=None):
        rng = _generator(rng)
        self.vocab_size, self.hidden_size, self.num_layers = vocab_size, hidden_size, num_layers
        self.rnn = RNN(vocab_size, hidden_size, num_layers, dtype, rng)
        self.head = Linear(hidden_size, vocab_size, dtype=dtype, rng=rng)
        self.vocab = None

    @property
    def embedding(self):
        """The (V, H) table of input vectors, which is `rnn.layers[0].weight_xh`."""
        return self.rnn.layers[0].weight_xh

    def forward(self, ids, h0=None):
        out, h = self.hidden_states(ids, h0)
        return self.head(out).transpose(1, 0, 2), h

    def hidden_states(self, ids, h0=None):
        """`forward` without the output layer, and time-major: (the top layer's states (T, B, H), h).
        """
        ids = check_ids(ids, self.vocab_size, "character id")
        if ids.ndim != 2:
            raise ValueError(f"CharRNN expects ids of shape (batch, time), got {ids.shape}")
        xw = self.embedding[ids.T] + self.rnn.layers[0].bias  # x_t W_xh + b for all steps
        return self.rnn.forward_projected(xw, h0)

    def config(self):
        """What rebuilds this model's shape, as JSON-ready values: `CharRNN.from_config(config)`."""
        return {"vocab_size": self.vocab_size, "hidden_size": self.hidden_size,
                "num_layers": self.num_layers, "dtype": self.head.weight.dtype.name}

    @classmethod
    def from_config(cls, config, rng=None):
        """A new model (freshly initialised) of the shape `config()` describes."""
        config = dict(config)
        return cls(**dict(config, dtype=np.dtype(config["dtype"])), rng=rng)

    @staticmethod
    def parameter_count(config):
        """How many numbers a model of `config` holds, without building it."""
        V, H, L = config["vocab_size"], config["hidden_size"], config["num_layers"]
        return 2 * V * H + V + L * (2 * H * H + H) - H * H

    def generate(self, prime, length, temperature=1.0, top_k=None, seed=None):
        """Sample `length` characters after `prime`: see `tinygrad_rnn.nn.sampling.generate`."""
        return generate(self, prime, length, temperature=temperature, top_k=top_k, seed=seed)
