"""06: how far back in time the gradient reaches, in an RNN, an LSTM and a GRU of the same size.

Each model is trained briefly on Shakespeare, then `gradflow.hidden_grad_norms(..., loss_at=-1)`
differentiates the loss of the last prediction of a chunk only, so that dL/dh_t at an earlier
step t is purely what travelled back through time. The table gives ||dL/dh_t|| relative to the
last step's, d = T-1-t steps back.

In the vanilla RNN every step back multiplies the gradient by diag(1 - h^2) W_hh^T, which
shrinks it: it decays geometrically. The LSTM's cell state c_t = f_t c_{t-1} + i_t g_t passes
dL/dc back through the forget gate alone (dL/dc_{t-1} = f_t dL/dc_t, no weight matrix, no
tanh'), and the GRU's h_t = (1 - z_t) n_t + z_t h_{t-1} has the same additive path through z_t:
when the gates learn to keep values, the gradient keeps going.

What to look at: over the first few steps back the three fall alike (a sigmoid gate starts
near 1/2); further back the RNN's column falls by many orders of magnitude more than the LSTM's
and the GRU's. The last line gives, per cell, the factor the gradient is multiplied by per step
back, on average from 10 to T-1 steps back: well under the gated cells' for the RNN. With the
`plot` extra (matplotlib) and `--plot FILE`, the curves are drawn on a log scale.

Run:  python examples/06_vanishing_gradients.py [--plot gradients.png]   (--quick: fewer steps)
"""
import argparse

import numpy as np

from tinygrad_rnn.charrnn.data import CharDataset, load_text
from tinygrad_rnn.gradflow import hidden_grad_norms
from tinygrad_rnn.nn import CharRNN, clip_grad_norm_, cross_entropy
from tinygrad_rnn.optim import Adam

parser = argparse.ArgumentParser(description="How far back the gradient reaches, per cell.")
parser.add_argument("--quick", action="store_true", help="a few training steps (for the tests)")
parser.add_argument("--plot", metavar="FILE", help="draw the curves into FILE (needs matplotlib)")
args = parser.parse_args()

CELLS, H, B, T = ("rnn", "lstm", "gru"), 48, 8, 40
STEPS = 10 if args.quick else 150
BACK = (1, 2, 5, 10, 20, T - 1)

ids = CharDataset(load_text()[:200_000]).train_ids
V = int(ids.max()) + 1


def chunk(rng):
    """B random windows of T+1 characters: inputs and next-character targets."""
    starts = rng.integers(0, len(ids) - T - 1, B)
    windows = np.stack([ids[s:s + T + 1] for s in starts])
    return windows[:, :-1], windows[:, 1:]


def relative_norms(cell):
    """||dL/dh_t|| / ||dL/dh_{T-1}|| after STEPS steps of Adam, on a held-back chunk."""
    model = CharRNN(V, H, cell=cell, embedding_size=32, rng=np.random.default_rng(0))
    optimizer, rng = Adam(model.parameters(), lr=3e-3), np.random.default_rng(1)
    for _ in range(STEPS):
        inputs, targets = chunk(rng)
        loss = cross_entropy(model(inputs)[0], targets)
        optimizer.zero_grad()
        loss.backward()
        clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
    norms = hidden_grad_norms(model, *chunk(np.random.default_rng(2)), loss_at=-1)
    return norms / norms[-1]


curves = {cell: relative_norms(cell) for cell in CELLS}
print(f"||dL/dh_t|| / ||dL/dh_T-1||, loss at the last step only, H={H}, after {STEPS} steps")
print("steps back " + "".join(f"{d:>9}" for d in BACK))
for cell, norms in curves.items():
    print(f"{cell:<11}" + "".join(f"{norms[T - 1 - d]:>9.1e}" for d in BACK))
# the geometric mean of the per-step factors, from 10 steps back to T-1 steps back
factor = {cell: (norms[0] / norms[T - 1 - 10]) ** (1 / (T - 1 - 10))
          for cell, norms in curves.items()}
print(f"per step back, from 10 to {T - 1} steps back, x " + ", ".join(
    f"{f:.2f} ({cell})" for cell, f in factor.items()))

if args.plot:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        print('no plot: it needs matplotlib (pip install "tinygrad-rnn[plot]")')
    else:
        figure = Figure(figsize=(6, 4))
        axes = figure.add_subplot()
        for cell, norms in curves.items():
            axes.semilogy(np.arange(T)[::-1], norms, label=cell)
        axes.set(xlabel="steps back from the last prediction", title="how far back dL/dh reaches",
                 ylabel="||dL/dh_t|| / ||dL/dh_T-1||")
        axes.legend()
        figure.savefig(args.plot, dpi=100, bbox_inches="tight")
        print(f"plot written to {args.plot}")
