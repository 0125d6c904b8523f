"""Recurrent cells (RNNCell, LSTMCell, GRUCell) and the layer stacks built from them (RNN, LSTM,
GRU), with PyTorch's equations, gate order and initialisation, written only with forward ops.

Row-vector convention (batch along the rows). A cell with g gates keeps W_xh (input, g*H),
W_hh (H, g*H), and its gate blocks side by side along the last axis:

    RNN  (g=1)   h' = tanh(x W_xh + h W_hh + b)
    LSTM (g=4)   i, f, g, o = blocks of x W_xh + h W_hh + b
                 c' = sigmoid(f) c + sigmoid(i) tanh(g),   h' = sigmoid(o) tanh(c')
    GRU  (g=3)   r, z, n blocks;  a = x W_xh + b_xh,  u = h W_hh + b_hh
                 r = sigmoid(a_r + u_r),  z = sigmoid(a_z + u_z),  n = tanh(a_n + r u_n)
                 h' = (1 - z) n + z h

Only the h W_hh term has to wait for the previous step. So a layer computes x W_xh + b for all
time steps with one GEMM (`project`), splits it over time with one `unbind`, and loops over the
steps doing only the h-dependent part (`scan`). Backward then does per step only what the
recurrence needs; the input projection and its gradient are one operation each.

Public shapes are batch-first, as PyTorch's `batch_first=True`: x (B, T, input), outputs
(B, T, H). Inside, the stacks work time-major, (T, B, ...), so the slice for step t is one
contiguous block. States between layers or batches are (num_layers, B, H), as in PyTorch, and
so is `dropout`: applied to each layer's outputs on their way into the next layer, while training.
PyTorch keeps two bias vectors, b_ih and b_hh; in the RNN and LSTM they are only ever added, so a
cell here keeps one, their sum (initialised as the sum of two draws, so it has the same
distribution). The GRU needs both: b_hn sits inside r * (h W_hn + b_hn).
"""
import warnings

import numpy as np

from ..ops import TanhAddMatMul
from ..tensor import Tensor, stack
from .functional import check_probability, dropout
from .layers import _generator
from .module import Module, Parameter


class _Cell(Module):
    """What every cell shares: the input projection, and the loop over time."""

    gates = 1

    def _init(self, input_size, hidden_size, dtype, rng, biases):
        """weight_xh, weight_hh and the named biases, each U(-k, k) with k = 1/sqrt(H), as
        PyTorch; `biases` maps a name to how many such draws it sums."""
        rng = _generator(rng)
        k = 1.0 / np.sqrt(hidden_size)
        gH = self.gates * hidden_size
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_xh = Parameter(rng.uniform(-k, k, (input_size, gH)).astype(dtype))
        self.weight_hh = Parameter(rng.uniform(-k, k, (hidden_size, gH)).astype(dtype))
        for name, draws in biases.items():
            value = sum(rng.uniform(-k, k, gH) for _ in range(draws))
            setattr(self, name, Parameter(value.astype(dtype)))

    @property
    def input_bias(self):
        """The bias that is added to x W_xh (all of it, except the GRU's b_hh)."""
        return self.bias

    def project(self, x):
        """x W_xh + b for every step at once: x (T, B, input) -> (T, B, g*H), as one GEMM."""
        T, B, _ = x.shape
        return (x.reshape(T * B, self.input_size) @ self.weight_xh
                + self.input_bias).reshape(T, B, -1)

    def lookup(self, ids):
        """`project` of one-hot inputs: one_hot(ids) W_xh is rows ids of W_xh. ids (T, B)."""
        return self.weight_xh[ids] + self.input_bias

    def scan(self, xw, state=None):
        """The recurrence over projected inputs xw (T, B, g*H), from `state` (None: zeros).

        Returns (the output h of every step, a list of T tensors (B, H), the last state).
        """
        outputs = []
        for xw_t in xw.unbind(axis=0):
            state = self.step(xw_t, state)
            outputs.append(state[0] if isinstance(state, tuple) else state)
        return outputs, state

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}"


class RNNCell(_Cell):
    """h' = tanh(x W_xh + h W_hh + b): weight_xh (input, H), weight_hh (H, H), bias (H,)."""

    def __init__(self, input_size, hidden_size, dtype=np.float32, rng=None):
        self._init(input_size, hidden_size, dtype, rng, {"bias": 2})

    def forward(self, x, h=None):
        """One step: x (B, input), h (B, H) or None for zeros -> h' (B, H)."""
        return self.step(x @ self.weight_xh + self.bias, h)

    def step(self, xw, h):
        """h' from the projected input xw = x W_xh + b; from zeros, just tanh(xw)."""
        # tanh(xw + h W_hh) as one fused node: the same values and gradients as the three ops it
        # replaces (tested), at a third of the per-step bookkeeping
        return xw.tanh() if h is None else TanhAddMatMul.apply(xw, h, self.weight_hh)


class LSTMCell(_Cell):
    """Long short-term memory: weight_xh (input, 4H), weight_hh (H, 4H), bias (4H,), blocks
    i, f, g, o.  i, f, o = sigmoid(.), g = tanh(.), c' = f c + i g, h' = o tanh(c')."""

    gates = 4

    def __init__(self, input_size, hidden_size, dtype=np.float32, rng=None):
        self._init(input_size, hidden_size, dtype, rng, {"bias": 2})

    def forward(self, x, state=None):
        """One step: x (B, input), state (h, c) each (B, H) or None for zeros -> (h', c')."""
        return self.step(x @ self.weight_xh + self.bias, state)

    def step(self, xw, state):
        """(h', c') from the projected input xw = x W_xh + b (B, 4H)."""
        if state is None:  # h = c = 0: no h W_hh term, and c' = i g
            i, f, g, o = xw.chunk(4, axis=-1)
            c = i.sigmoid() * g.tanh()
        else:
            h, c = state
            i, f, g, o = (xw + h @ self.weight_hh).chunk(4, axis=-1)
            c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        return o.sigmoid() * c.tanh(), c


class GRUCell(_Cell):
    """Gated recurrent unit: weight_xh (input, 3H), weight_hh (H, 3H), bias_xh and bias_hh (3H,),
    blocks r, z, n.  n = tanh(x W_xn + b_xn + r (h W_hn + b_hn)), h' = (1 - z) n + z h."""

    gates = 3

    def __init__(self, input_size, hidden_size, dtype=np.float32, rng=None):
        self._init(input_size, hidden_size, dtype, rng, {"bias_xh": 1, "bias_hh": 1})

    @property
    def input_bias(self):
        return self.bias_xh

    def forward(self, x, h=None):
        """One step: x (B, input), h (B, H) or None for zeros -> h' (B, H)."""
        return self.step(x @ self.weight_xh + self.bias_xh, h)

    def step(self, xw, h):
        """h' from the projected input xw = x W_xh + b_xh (B, 3H)."""
        u = self.bias_hh if h is None else h @ self.weight_hh + self.bias_hh
        a_r, a_z, a_n = xw.chunk(3, axis=-1)
        u_r, u_z, u_n = u.chunk(3, axis=-1)
        r, z = (a_r + u_r).sigmoid(), (a_z + u_z).sigmoid()
        n = (a_n + r * u_n).tanh()
        return n - z * n if h is None else n + z * (h - n)  # (1 - z) n + z h


class _Stack(Module):
    """`num_layers` cells, each layer's output sequence the next one's input."""

    cell = None  # the cell class

    def __init__(self, input_size, hidden_size, num_layers=1, dtype=np.float32, rng=None, *,
                 dropout=0.0):
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        check_probability(dropout)
        if dropout and num_layers == 1:
            warnings.warn(f"{type(self).__name__}: dropout={dropout} acts between layers; with "
                          "num_layers=1 it does nothing", UserWarning, stacklevel=2)
        rng = _generator(rng)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.dropout, self.rng = dropout, rng  # rng also draws the dropout masks
        self.layers = [self.cell(input_size if i == 0 else hidden_size, hidden_size, dtype, rng)
                       for i in range(num_layers)]

    def forward(self, x, state=None):
        x = x if isinstance(x, Tensor) else Tensor(x)
        if x.ndim != 3 or x.shape[2] != self.input_size:
            raise ValueError(f"{type(self).__name__} expects x of shape (batch, time, "
                             f"{self.input_size}), got {x.shape}")
        outputs, state = self.scan(self.layers[0].project(x.transpose(1, 0, 2)), state)
        return stack(outputs, axis=0).transpose(1, 0, 2), state

    def scan(self, xw, state=None):
        """`forward` from the first layer's projection xw (T, B, g*H) instead of x, time-major.

        A caller that computes xw more cheaply than a GEMM (a row lookup) enters here. Returns
        (the top layer's output at every step, a list of T tensors (B, H), the last state).
        """
        B = xw.shape[1]
        initial = [None] * self.num_layers if state is None else self._split(state, B, xw.dtype)
        outputs, last = None, []
        for cell, s in zip(self.layers, initial):
            if outputs is not None:
                xw = cell.project(dropout(stack(outputs), self.dropout, self.training, self.rng))
            outputs, s = cell.scan(xw, s)
            last.append(s)
        return outputs, self._join(last)

    def _tensor(self, name, value, B, dtype):
        """`value` as a Tensor, checked to be (num_layers, B, H)."""
        value = value if isinstance(value, Tensor) else Tensor(np.asarray(value, dtype=dtype))
        want = (self.num_layers, B, self.hidden_size)
        if value.shape != want:
            raise ValueError(f"{type(self).__name__}: {name} must have shape (num_layers, batch, "
                             f"hidden) = {want}, got {value.shape}")
        return value

    def _split(self, h0, B, dtype):
        """The public state h0 (L, B, H) as one state per layer."""
        return self._tensor("h0", h0, B, dtype).unbind(axis=0)

    def _join(self, last):
        return stack(last, axis=0)

    def extra_repr(self):
        return (f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
                + (f", dropout={self.dropout}" if self.dropout else ""))


class RNN(_Stack):
    """A stack of RNNCells. `rnn(x, h0)`: x (B, T, input), h0 (num_layers, B, H) or None (zeros)
    -> (the last layer's outputs (B, T, H), h_n (num_layers, B, H))."""

    cell = RNNCell

    def forward(self, x, h0=None):
        return super().forward(x, h0)


class GRU(_Stack):
    """A stack of GRUCells. `gru(x, h0)`: x (B, T, input), h0 (num_layers, B, H) or None (zeros)
    -> (the last layer's outputs (B, T, H), h_n (num_layers, B, H))."""

    cell = GRUCell

    def forward(self, x, h0=None):
        return super().forward(x, h0)


class LSTM(_Stack):
    """A stack of LSTMCells. `lstm(x, state)`: x (B, T, input), state None (zeros) or (h0, c0)
    each (num_layers, B, H) -> (the last layer's outputs (B, T, H), (h_n, c_n))."""

    cell = LSTMCell

    def _split(self, state, B, dtype):
        if not (isinstance(state, (tuple, list)) and len(state) == 2):
            raise ValueError(f"LSTM: state must be a pair (h0, c0), got {type(state).__name__}")
        h0, c0 = (self._tensor(n, s, B, dtype) for n, s in zip(("h0", "c0"), state))
        return list(zip(h0.unbind(axis=0), c0.unbind(axis=0)))

    def _join(self, last):
        return stack([h for h, _ in last], axis=0), stack([c for _, c in last], axis=0)
