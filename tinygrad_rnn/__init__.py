"""tinygrad_rnn: a small reverse-mode autograd engine on numpy, and character-level RNNs on it.

This module is the engine's API. Read the engine in this order: tensor.py (what a Tensor holds),
autograd.py (Function and the backward walk), ops/ (every op's forward and backward side by
side), gradcheck.py, jit.py (trace once, replay). The framework is `tinygrad_rnn.nn`,
`tinygrad_rnn.optim` and `tinygrad_rnn.export`; the char-RNN application is `tinygrad_rnn.charrnn`.
"""
from .anomaly import AnomalyError, detect_anomaly
from .autograd import Function
from .grad_mode import is_grad_enabled, no_grad
from .gradcheck import GradcheckError, check_gradients, gradcheck
from .jit import jit
from .tensor import Tensor, concatenate, stack

__version__ = "0.5.0"

__all__ = ["Tensor", "Function", "no_grad", "is_grad_enabled", "gradcheck", "GradcheckError",
           "check_gradients", "stack", "concatenate", "detect_anomaly", "AnomalyError", "train",
           "jit"]


def __getattr__(name):
    """`tinygrad_rnn.train`, imported on first use: the engine doesn't load the application."""
    if name == "train":
        from .charrnn.train import train

        return train
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
