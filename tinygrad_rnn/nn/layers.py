"""`Linear` and `Embedding`, initialised as PyTorch initialises them.

Layers take an optional `rng: np.random.Generator`, so that a model built with
`rng=np.random.default_rng(seed)` starts from the same weights every time.
"""
import numpy as np

from ..tensor import Tensor
from .module import Module, Parameter


def _generator(rng):
    return np.random.default_rng() if rng is None else rng


class Linear(Module):
    """y = x W + b, for x of shape (..., in_features) and y of shape (..., out_features).

    Row-vector convention: `weight` has shape (in_features, out_features), so the forward pass is
    a plain `x @ W` with no transpose. PyTorch stores the transpose, (out_features, in_features),
    and computes x W^T + b; to load PyTorch weights here, transpose them.

    Initialisation as PyTorch: W and b uniform in [-k, k] with k = 1/sqrt(in_features).
    """

    def __init__(self, in_features, out_features, bias=True, dtype=np.float32, rng=None):
        rng = _generator(rng)
        k = 1.0 / np.sqrt(in_features)
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(rng.uniform(-k, k, (in_features, out_features)).astype(dtype))
        self.bias = Parameter(rng.uniform(-k, k, out_features).astype(dtype)) if bias else None

    def forward(self, x):
        shape = x.shape
        if len(shape) > 2:  # (B, T, in) as one (B*T, in) matrix: a single GEMM, not B of them
            x = x.reshape(-1, self.in_features)
        y = x @ self.weight
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*shape[:-1], self.out_features) if len(shape) > 2 else y

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Embedding(Module):
    """y = W[ids]: row i of `weight` (num_embeddings, embedding_dim) is the vector for index i.

    The same as one_hot(ids) @ W, without building the one-hot matrix. `ids` is an integer numpy
    array or Tensor of any shape; the output has shape ids.shape + (embedding_dim,). In backward,
    a row used several times receives the sum of its gradients. Initialisation as PyTorch: N(0, 1).
    """

    def __init__(self, num_embeddings, embedding_dim, dtype=np.float32, rng=None):
        rng = _generator(rng)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = Parameter(rng.standard_normal((num_embeddings, embedding_dim)).astype(dtype))

    def forward(self, ids):
        return self.weight[check_ids(ids, self.num_embeddings)]

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"


def check_ids(ids, size, what="index"):
    """`ids` as an integer numpy array, checked to lie in [0, size).

    numpy would accept a negative index (counting from the end), which for a token id is a bug.
    """
    ids = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"{what} must be an integer array, got dtype {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= size):
        bad = ids.min() if ids.min() < 0 else ids.max()
        raise IndexError(f"{what} {bad} is out of range [0, {size}) (array of shape {ids.shape})")
    return ids
