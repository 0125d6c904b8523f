"""Layers, models, losses, dropout and gradient clipping, as in `torch.nn`."""
from . import functional, utils
from .functional import cross_entropy, nll_loss
from .layers import Embedding, Linear
from .charrnn import CharRNN
from .dropout import Dropout
from .module import Module, Parameter
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from .utils import clip_grad_norm_, clip_grad_value_

__all__ = ["Module", "Parameter", "Linear", "Embedding", "Dropout", "RNNCell", "LSTMCell",
           "GRUCell", "RNN", "LSTM", "GRU", "CharRNN", "cross_entropy", "nll_loss",
           "clip_grad_norm_", "clip_grad_value_", "functional", "utils"]
