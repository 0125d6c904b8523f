"""The three recurrences written out in plain numpy, batch-first, as the tests' value oracle.

Each cell's parameters are read off a tinygrad_rnn cell as arrays; `bump = (t, d)` adds d to the
top layer's output h_t right after it is computed (before the next step and the head read it),
which lets a test differentiate the loss with respect to h_t by finite differences.
"""
import numpy as np


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def rnn_step(x, h, W, U, b):
    return np.tanh(x @ W + h @ U + b), None


def lstm_step(x, h, c, W, U, b):
    i, f, g, o = np.split(x @ W + h @ U + b, 4, axis=-1)
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c), c


def gru_step(x, h, W, U, b_x, b_h):
    a_r, a_z, a_n = np.split(x @ W + b_x, 3, axis=-1)
    u_r, u_z, u_n = np.split(h @ U + b_h, 3, axis=-1)
    r, z = sigmoid(a_r + u_r), sigmoid(a_z + u_z)
    n = np.tanh(a_n + r * u_n)
    return (1 - z) * n + z * h, None


def arrays(cell):
    return [p.data for p in cell.parameters()]


def run(kind, x, cells, state=None, bump=None):
    """x (B, T, in) through the stack of `cells` (tinygrad_rnn cells of `kind`): returns
    (outputs (B, T, H), final state: h (L, B, H), or (h, c) for "lstm")."""
    B, T, _ = x.shape
    L, H = len(cells), cells[0].hidden_size
    if state is None:
        state = np.zeros((L, B, H)) if kind != "lstm" else (np.zeros((L, B, H)),) * 2
    h0, c0 = state if kind == "lstm" else (state, np.zeros((L, B, H)))
    last_h, last_c = [], []
    for layer, cell in enumerate(cells):
        h, c, outputs = h0[layer], c0[layer], []
        for t in range(T):
            if kind == "lstm":
                h, c = lstm_step(x[:, t], h, c, *arrays(cell))
            else:
                h, _ = (rnn_step if kind == "rnn" else gru_step)(x[:, t], h, *arrays(cell))
            if bump is not None and layer == L - 1 and t == bump[0]:
                h = h + bump[1]
            outputs.append(h)
        x = np.stack(outputs, axis=1)
        last_h.append(h)
        last_c.append(c)
    return x, ((np.stack(last_h), np.stack(last_c)) if kind == "lstm" else np.stack(last_h))


def char_model(model, ids, state=None, bump=None):
    """A CharRNN in numpy: (top-layer states (B, T, H), logits (B, T, V))."""
    ids = np.asarray(ids)
    if model.embedding is None:
        x = np.eye(model.vocab_size)[ids]  # the one-hot input
    else:
        x = model.embedding.weight.data[ids]
    states, _ = run(model.cell, x, model.rnn.layers, state, bump)
    return states, states @ model.head.weight.data + model.head.bias.data
