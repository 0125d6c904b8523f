"""Every primitive op, as a `Function` whose backward sits right under its forward.

Notation: the op computes y = f(x, ...) and `backward` receives g = dL/dy, the gradient of the
final scalar L with respect to the op's output. It returns dL/dx for each input: the
vector-Jacobian product g^T (dy/dx), written out by hand for each op. Arrays in, arrays out.

    elementwise.py  arithmetic, exp/log/tanh/sigmoid/relu, log_softmax, and `unbroadcast`
    matmul.py       the matrix product and its deferred weight-gradient term
    reduce.py       sum and max over axes
    shape.py        reshape, transpose, indexing, stack/concatenate, unbind/split
    fused.py        ops that do the work of several in one node, each tested against its twin
    random.py       ops that draw random numbers (dropout), anew at every call
"""
from .elementwise import (Add, Div, Exp, Log, LogSoftmax, Mul, Neg, Pow, ReLU, Sigmoid, Sub, Tanh,
                          log_softmax, unbroadcast)
from .fused import CrossEntropy, TanhAddMatMul
from .matmul import MatMul, MatMulWeightGrad
from .random import Dropout
from .reduce import Max, Sum
from .shape import (Concatenate, GetItem, Reshape, RowsGrad, Split, Stack, Transpose, Unbind,
                    scatter_rows)

__all__ = ["Add", "Sub", "Mul", "Div", "Neg", "Pow", "Exp", "Log", "Tanh", "Sigmoid", "ReLU",
           "log_softmax", "LogSoftmax", "unbroadcast", "MatMul", "MatMulWeightGrad",
           "Sum", "Max", "Reshape", "Transpose", "GetItem", "RowsGrad", "scatter_rows",
           "Stack", "Concatenate", "Unbind", "Split", "TanhAddMatMul", "CrossEntropy", "Dropout"]
