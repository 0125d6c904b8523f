"""The model state carried from one chunk of text to the next.

Truncated BPTT starts each chunk from the state the previous chunk ended with, detached, so that
the next backward stops at the chunk's start; a pass over the text starts from zeros (None).
To the training loop the state is opaque: whatever the model returns next to its logits, a
Tensor (h, (num_layers, B, H), for an RNN or a GRU) or a tuple of Tensors ((h, c) for an LSTM).
These few functions are the only code that looks inside it.
"""
import numpy as np

from ..tensor import Tensor
from .checkpoint import CheckpointError


def _each(fn, state):
    return tuple(fn(t) for t in state) if isinstance(state, (tuple, list)) else fn(state)


def detach(state):
    """The same values, cut from the graph that made them."""
    return _each(lambda t: t.detach(), state)


def rows(state, index):
    """The state of some streams only: `index` selects along the batch axis (axis 1)."""
    return None if state is None else _each(lambda t: t[:, index], state)


def to_arrays(state):
    """The state as a checkpoint stores it: None, an array, or a list of arrays."""
    if state is None:
        return None
    arrays = _each(lambda t: t.data, state)
    return list(arrays) if isinstance(arrays, tuple) else arrays


def from_arrays(arrays, source, shape, dtype):
    """The state stored by `to_arrays`, back as Tensors; every array must have `shape` and
    `dtype`, else CheckpointError names what the checkpoint `source` holds instead."""
    if arrays is None:
        return None
    parts = arrays if isinstance(arrays, list) else [arrays]
    for part in parts:
        if not isinstance(part, np.ndarray) or part.shape != shape or part.dtype != dtype:
            got = (f"{part.dtype} {part.shape}" if isinstance(part, np.ndarray)
                   else type(part).__name__)
            raise CheckpointError(f"{source}: its hidden state is {got}, expected {dtype} {shape}")
    return tuple(Tensor(p) for p in parts) if isinstance(arrays, list) else Tensor(arrays)
