"""The baselines tinygrad_rnn is measured against: a careful hand-written numpy BPTT, and the GEMMs
alone that one training step of the same model needs (the floor no numpy implementation beats).

The model (row vectors, batch-first ids of shape (B, T)):
    x_t = Wxh[ids[:, t]] + bh                 (embedding gather = one-hot times Wxh)
    h_t = tanh(x_t + h_{t-1} @ Whh)
    logits_t = h_t @ Why + by
    loss = mean over all B*T positions of -log softmax(logits_t)[target]
"""
import numpy as np


def init_params(vocab_size, hidden_size, dtype, seed=0):
    rng = np.random.default_rng(seed)
    s = 1 / np.sqrt(hidden_size)
    return {
        "Wxh": rng.standard_normal((vocab_size, hidden_size)).astype(dtype) * dtype(0.1),
        "Whh": rng.uniform(-s, s, (hidden_size, hidden_size)).astype(dtype),
        "bh": rng.uniform(-s, s, hidden_size).astype(dtype),
        "Why": rng.uniform(-s, s, (hidden_size, vocab_size)).astype(dtype),
        "by": rng.uniform(-s, s, vocab_size).astype(dtype),
    }


def loss_and_grads(p, ids, targets, h0):
    """Forward, mean cross-entropy and BPTT by hand, written as efficiently as numpy allows:
    time-major buffers, one GEMM for the output layer over all steps, one for dWhh."""
    B, T = ids.shape
    Wxh, Whh, bh, Why, by = p["Wxh"], p["Whh"], p["bh"], p["Why"], p["by"]
    ids_tm = ids.T  # (T, B)
    x = Wxh[ids_tm] + bh  # (T, B, H)
    hs = np.empty((T + 1,) + h0.shape, dtype=Wxh.dtype)  # hs[0] = h0, hs[t+1] = h_t
    hs[0] = h0
    for t in range(T):
        np.tanh(x[t] + hs[t] @ Whh, out=hs[t + 1])
    H = hs[1:].reshape(T * B, -1)
    logits = H @ Why + by
    logits -= logits.max(axis=1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=1, keepdims=True)  # now the softmax probabilities
    rows, cols = np.arange(T * B), targets.T.reshape(-1)
    loss = -np.log(logits[rows, cols]).mean()

    dlogits = logits
    dlogits[rows, cols] -= 1
    dlogits /= T * B  # d(mean loss)/d(logits) = (softmax - onehot) / N
    grads = {"Why": H.T @ dlogits, "by": dlogits.sum(axis=0)}
    dH = (dlogits @ Why.T).reshape(T, B, -1)
    dz = np.empty_like(dH)
    dh_next = np.zeros_like(h0)
    # W_hh^T made contiguous once: BLAS multiplies by a transposed view on a slower path (about
    # a third slower for (32, 256) @ (256, 256) in float32), and this product runs T times
    Whh_T = np.ascontiguousarray(Whh.T)
    for t in reversed(range(T)):
        h = hs[t + 1]
        np.multiply(dH[t] + dh_next, 1 - h * h, out=dz[t])  # through tanh
        dh_next = dz[t] @ Whh_T
    dz_flat = dz.reshape(T * B, -1)
    grads["Whh"] = hs[:-1].reshape(T * B, -1).T @ dz_flat
    grads["bh"] = dz_flat.sum(axis=0)
    # the embedding's gradient: each position's dz added into its character's row, written as a
    # product with the one-hot matrix (much faster than np.add.at for a small vocabulary)
    onehot = ids_tm.reshape(-1)[:, None] == np.arange(Wxh.shape[0])
    grads["Wxh"] = onehot.T.astype(Wxh.dtype) @ dz_flat
    return loss, grads, hs[-1]


def sgd_step(p, grads, lr):
    for k, g in grads.items():
        p[k] -= lr * g


def gemm_floor_step(p, B, T):
    """Only the matrix products of one step (shapes as above), back to back: the floor."""
    Whh, Why = p["Whh"], p["Why"]
    h = np.zeros((B, Whh.shape[0]), dtype=Whh.dtype)
    for _ in range(T):
        h = h @ Whh  # recurrence, forward
    H = np.zeros((T * B, Whh.shape[0]), dtype=Whh.dtype)
    dlogits = H @ Why  # output layer, forward
    H.T @ dlogits  # dWhy
    dlogits @ Why.T  # dH
    Whh_T = np.ascontiguousarray(Whh.T)
    for _ in range(T):
        h = h @ Whh_T  # recurrence, backward
    H.T @ H  # dWhh
