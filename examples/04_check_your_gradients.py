"""04: check a gradient you derived by hand, with `check_gradients`.

The model is a small two-layer network fitted by least squares, in row-vector convention:

    H = tanh(X W1 + b1)      Y = H W2 + b2      L = mean over the N rows of (Y - T)^2

and its backward pass written out by hand, from the output back:

    dY  = 2 (Y - T) / N
    dW2 = H^T dY             db2 = sum of dY over the rows
    dH  = dY W2^T
    dZ  = dH * (1 - H^2)     (tanh' = 1 - tanh^2)
    dW1 = X^T dZ             db1 = sum of dZ over the rows

`check_gradients(loss_fn, params, grads)` runs autograd on `loss_fn` and compares, parameter by
parameter, with your `grads`. What to look at: the first report is OK on every row, with
errors at rounding level (here exactly 0). The second comes from a backward that forgets the
tanh' factor: it marks exactly W1 and b1 WRONG, the parameters that sit before the tanh, while
W2 and b2 stay OK.

Run:  python examples/04_check_your_gradients.py
"""
import numpy as np

from tinygrad_rnn import check_gradients

rng = np.random.default_rng(0)
N, D, H = 8, 3, 5
X, T = rng.normal(size=(N, D)), rng.normal(size=(N, 1))
params = {"W1": rng.normal(size=(D, H)), "b1": rng.normal(size=H),
          "W2": rng.normal(size=(H, 1)), "b2": rng.normal(size=1)}


def loss_fn(p):
    """The model's loss in Tensor ops; check_gradients passes the parameters as Tensors."""
    hidden = (X @ p["W1"] + p["b1"]).tanh()
    return ((hidden @ p["W2"] + p["b2"] - T) ** 2).mean()


def backward_by_hand(p, forget_tanh=False):
    hidden = np.tanh(X @ p["W1"] + p["b1"])
    dY = 2 * (hidden @ p["W2"] + p["b2"] - T) / N
    dH = dY @ p["W2"].T
    dZ = dH if forget_tanh else dH * (1 - hidden ** 2)
    return {"W1": X.T @ dZ, "b1": dZ.sum(axis=0), "W2": hidden.T @ dY, "b2": dY.sum(axis=0)}


report = check_gradients(loss_fn, params, backward_by_hand(params))
print(f"the right backward (report.ok = {report.ok}):\n{report}\n")

report = check_gradients(loss_fn, params, backward_by_hand(params, forget_tanh=True))
print(f"a backward that forgets tanh' (report.ok = {report.ok}):\n{report}")
