"""Checking gradients: autograd against finite differences, and hand-written against autograd.

`gradcheck` tests the engine (or a new op's backward) against central differences,
    df/dx_i ~ (f(x + eps e_i) - f(x - eps e_i)) / (2 eps),
whose error is O(eps^2) from the Taylor series plus O(machine_eps / eps) from rounding: with
float64 and eps = 1e-6 both are around 1e-10, while float32 would leave only about 2 correct
digits, which is why float32 inputs are refused.

`check_gradients` tests a gradient someone derived by hand (a document's BPTT, your own) against
autograd's, parameter by parameter, and returns a report to print or assert on.
"""
from dataclasses import dataclass

import numpy as np

from .grad_mode import no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """Raised by `gradcheck` when an analytic gradient disagrees with finite differences."""


def _jacobians(fn, inputs, eps):
    """Analytic (by backward, one output element at a time) and numeric Jacobians per input."""
    with no_grad():
        y0 = fn(*inputs).data
    out = fn(*inputs)
    if not out.requires_grad:
        raise ValueError("gradcheck: fn's output does not require grad; does it use the inputs?")
    checked = [(i, x) for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    saved = [x.grad for _, x in checked]
    analytic = [np.zeros((y0.size, x.data.size)) for _, x in checked]
    for row in range(y0.size):
        for _, x in checked:
            x.grad = None
        seed = np.zeros(y0.size, dtype=y0.dtype)
        seed[row] = 1
        out.backward(seed.reshape(y0.shape), retain_graph=True)
        for jac, (_, x) in zip(analytic, checked):
            if x.grad is not None:
                jac[row] = x.grad.ravel()
    for (_, x), grad in zip(checked, saved):
        x.grad = grad

    numeric = []
    with no_grad():
        for _, x in checked:
            jac = np.zeros((y0.size, x.data.size))
            if not (x.data.flags.c_contiguous and x.data.flags.writeable):
                x.data = x.data.copy()
            flat = x.data.reshape(-1)  # a view: perturb in place, restore after
            for col in range(flat.size):
                orig = flat[col]
                flat[col] = orig + eps
                plus = np.array(fn(*inputs).data).ravel()  # a copy: it may be a view of x
                flat[col] = orig - eps
                minus = np.array(fn(*inputs).data).ravel()
                flat[col] = orig
                jac[:, col] = (plus - minus) / (2 * eps)
            numeric.append(jac)
    return checked, analytic, numeric, y0.shape


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Compare autograd's Jacobian of `fn(*inputs)` with central finite differences.

    Every input that is a Tensor with requires_grad=True is checked, element by element against
    every output element, as `torch.autograd.gradcheck` does: analytic a and numeric n agree when
    |a - n| <= atol + rtol * |n|. Returns True; on the first disagreement raises GradcheckError
    naming the input, the element and both values (or returns False if raise_exception=False).
    """
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor) and x.requires_grad and x.dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} is {x.dtype}; finite differences need float64 "
                            "inputs (float32 rounding swamps the difference quotient)")
    checked, analytic, numeric, out_shape = _jacobians(fn, inputs, eps)
    name = getattr(fn, "__name__", repr(fn))
    for (i, x), a, n in zip(checked, analytic, numeric):
        bad = np.abs(a - n) > atol + rtol * np.abs(n)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            out_at = np.unravel_index(row, out_shape) if out_shape else ()
            msg = (f"gradcheck failed for {name}: input {i} (shape {x.shape}), element "
                   f"{tuple(int(k) for k in np.unravel_index(col, x.shape))}, output element "
                   f"{tuple(int(k) for k in out_at)}: analytic {a[row, col]:.10g}, numeric "
                   f"{n[row, col]:.10g} ({int(bad.sum())} of {bad.size} Jacobian entries differ)")
            if raise_exception:
                raise GradcheckError(msg)
            return False
    return True


@dataclass
class GradientRow:
    name: str
    max_abs_error: float
    rel_error: float
    ok: bool


@dataclass
class GradientReport:
    """One row per parameter; `ok` if every row is; prints as a table."""

    rows: list
    rtol: float

    @property
    def ok(self):
        return all(r.ok for r in self.rows)

    def __getitem__(self, name):
        return next(r for r in self.rows if r.name == name)

    def __str__(self):
        width = max([len("parameter")] + [len(r.name) for r in self.rows])
        lines = [f"{'parameter':<{width}}  {'max abs error':>13}  {'rel error':>9}  ok"]
        for r in self.rows:
            lines.append(f"{r.name:<{width}}  {r.max_abs_error:13.3e}  {r.rel_error:9.2e}  "
                         f"{'OK' if r.ok else 'WRONG'}")
        return "\n".join(lines)


def relative_error(a, b):
    """||a - b|| / max(||a||, ||b||): 0 when equal, about 1 when unrelated, 0 for two zeros."""
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    return float(np.linalg.norm(a - b) / scale) if scale > 0 else 0.0


def check_gradients(loss_fn, params, grads, rtol=1e-6):
    """Check hand-written gradients `grads` against autograd's gradient of `loss_fn`.

    `params` maps names to arrays (or Tensors); `loss_fn` takes a dict of the same names mapped
    to Tensors and returns a scalar Tensor. A parameter is OK when the relative error (see
    `relative_error`) is at most `rtol`; float64 hand-written gradients usually agree to 1e-12.
    """
    missing = sorted(set(params) - set(grads))
    if missing:
        raise KeyError(f"check_gradients: no hand-written gradient for {', '.join(missing)}")
    tensors = {k: Tensor(np.array(v.data if isinstance(v, Tensor) else v, dtype=np.float64),
                         requires_grad=True) for k, v in params.items()}
    loss = loss_fn(tensors)
    loss.backward()
    rows = []
    for name, t in tensors.items():
        mine = np.asarray(grads[name], dtype=np.float64)
        auto = t.grad if t.grad is not None else np.zeros_like(t.data)
        if mine.shape != auto.shape:
            raise ValueError(f"check_gradients: gradient for {name} has shape {mine.shape}, "
                             f"parameter has shape {auto.shape}")
        err = relative_error(mine, auto)
        rows.append(GradientRow(name, float(np.max(np.abs(mine - auto), initial=0.0)), err, err <= rtol))
    return GradientReport(rows, rtol)
