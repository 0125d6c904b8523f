"""Anomaly detection: stop at the first op whose forward or backward makes a NaN or an Inf.

A NaN in the loss is the end of a chain: some op produced it steps earlier (an exp that
overflowed, a log of zero, a division by a vanishing norm), and every op after it just passed it
on. Under `detect_anomaly()` every op checks its outputs, and every node its gradients, and the
first one to go non-finite raises `AnomalyError` naming the op, its input shapes and the line of
the caller's code that created it. Off (the default), the engine pays one flag test per op.
"""
import os
import traceback

import numpy as np

_HERE = os.path.dirname(__file__)
_ENGINE_FILES = {os.path.join(_HERE, f) for f in ("anomaly.py", "autograd.py", "tensor.py")}
_OPS_DIR = os.path.join(_HERE, "ops")


class AnomalyError(RuntimeError):
    """An op produced NaN or Inf while `detect_anomaly()` was on."""


class _Mode:
    enabled = False


class detect_anomaly:
    """Context manager (like `torch.autograd.detect_anomaly`) that raises at the first NaN or Inf.

        with detect_anomaly():
            loss = model_loss(...)
            loss.backward()
    """

    def __enter__(self):
        self._prev, _Mode.enabled = _Mode.enabled, True

    def __exit__(self, *exc):
        _Mode.enabled = self._prev


def creation_site():
    """'file:line in function: source' of the innermost caller outside the engine itself."""
    for frame in reversed(traceback.extract_stack()):
        if frame.filename not in _ENGINE_FILES and os.path.dirname(frame.filename) != _OPS_DIR:
            return f"{frame.filename}:{frame.lineno} in {frame.name}: {(frame.line or '').strip()}"
    return "unknown"


def _bad(arrays):
    """How many non-finite values the arrays hold, and of which kinds."""
    count, kinds = 0, set()
    for a in arrays:
        if a is None or not np.issubdtype(np.asarray(a).dtype, np.inexact):
            continue
        a = np.asarray(a)
        nan, inf = np.isnan(a), np.isinf(a)
        count += int(nan.sum() + inf.sum())
        kinds |= {"NaN"} if nan.any() else set()
        kinds |= {"Inf"} if inf.any() else set()
    return count, "/".join(sorted(kinds))


def check_forward(op_name, outputs, inputs, site):
    count, kinds = _bad(outputs if isinstance(outputs, tuple) else (outputs,))
    if count:
        shapes = ", ".join(str(np.shape(a)) for a in inputs if isinstance(a, np.ndarray))
        raise AnomalyError(f"{op_name} forward produced {count} {kinds} value(s) from inputs of "
                           f"shape {shapes}; the op was created at {site}")


def check_backward(node, grads):
    count, kinds = _bad(g for g in grads if isinstance(g, np.ndarray))
    if count:
        shapes = ", ".join(str(np.shape(getattr(p, "data", p))) for p in node.parents)
        site = getattr(node, "created_at", None) or "(unknown: the forward ran outside detect_anomaly)"
        raise AnomalyError(f"{type(node).__name__} backward produced {count} {kinds} value(s) in "
                           f"the gradients of its inputs of shape {shapes}; the op was created at {site}")
