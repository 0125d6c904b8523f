"""A CharRNN in PyTorch's layout and back, and on disk as safetensors.

The PyTorch model the arrays are named and shaped for (attributes `embedding`, `rnn`, `head`):

    Embedding(V, E) -> nn.RNN | nn.LSTM | nn.GRU(E, H, num_layers, batch_first=True) -> Linear(H, V)

This package multiplies row vectors by (in, out) matrices, PyTorch multiplies (out, in) matrices by
column vectors, so every matrix is transposed on the way. For layer k, with g gate blocks of H
columns each (g = 1 rnn, 4 lstm in the order i, f, g, o, 3 gru in the order r, z, n: PyTorch's
orders, which this package's cells use too):

    rnn.weight_ih_l{k} (gH, in_k) = rnn.layers.{k}.weight_xh.T
    rnn.weight_hh_l{k} (gH, H)    = rnn.layers.{k}.weight_hh.T
    rnn, lstm:  rnn.bias_ih_l{k} = bias,  rnn.bias_hh_l{k} = 0
    gru:        rnn.bias_ih_l{k} = bias_xh,  rnn.bias_hh_l{k} = bias_hh
    head.weight (V, H) = head.weight.T,  head.bias (V,) as is

PyTorch's RNN and LSTM add their two biases before any nonlinearity, so one vector, their sum,
is the same function (`from_torch` sums them). The GRU's b_hn sits inside r * (h W_hn + b_hn),
so its two biases are kept apart, as here.

A model in the documents' form (no embedding: one-hot input, a character's input vector is its
row of the first layer's weight_xh) exports as Embedding(V, V) holding the identity: row c of
I W_xh is row c of W_xh, the same function. `from_torch` always builds the embedding form.

On disk (`save_safetensors`, `load_safetensors`) the arrays are those of `to_torch`, so
`torch.nn.Module.load_state_dict(safetensors.torch.load_file(path))` reads the file directly;
the vocabulary and the architecture (`CharRNN.config()` without the training-only dropout)
travel in the file's metadata as JSON strings under "vocab" and "architecture". safetensors is an
optional extra, imported only here.
"""
import json
import os
import re

import numpy as np

from .files import write_atomically
from .nn import CharRNN
from .nn.charrnn import DTYPES, STACKS

GATES = {cell: stack.cell.gates for cell, stack in STACKS.items()}  # rnn 1, lstm 4, gru 3
EXTRA = 'pip install "tinygrad-rnn[safetensors]"'
# what the function of a model depends on: its config() but for the dropout, which only training
# uses (a model comes back with none)
ARCHITECTURE_KEYS = ("vocab_size", "hidden_size", "num_layers", "cell", "embedding_size", "dtype")


class ExportError(ValueError):
    """A state_dict or a file that can't be converted: the message names the key or the file."""


def to_torch(model):
    """The state_dict of the PyTorch model above with `model`'s function: name -> numpy array.

    The arrays are new, C-contiguous, in `model`'s dtype, in the order PyTorch lists them.
    """
    params = model.state_dict()
    V = model.vocab_size
    dtype = params["head.weight"].dtype
    out = {"embedding.weight": params.pop("embedding.weight", None)}
    if out["embedding.weight"] is None:  # the documents' form: one-hot input
        out["embedding.weight"] = np.eye(V, dtype=dtype)
    k = 0
    while f"rnn.layers.{k}.weight_xh" in params:
        layer = f"rnn.layers.{k}."
        out[f"rnn.weight_ih_l{k}"] = params.pop(layer + "weight_xh").T
        out[f"rnn.weight_hh_l{k}"] = params.pop(layer + "weight_hh").T
        if layer + "bias" in params:
            out[f"rnn.bias_ih_l{k}"] = params.pop(layer + "bias")
            out[f"rnn.bias_hh_l{k}"] = np.zeros_like(out[f"rnn.bias_ih_l{k}"])
        else:
            out[f"rnn.bias_ih_l{k}"] = params.pop(layer + "bias_xh")
            out[f"rnn.bias_hh_l{k}"] = params.pop(layer + "bias_hh")
        k += 1
    out["head.weight"] = params.pop("head.weight").T
    out["head.bias"] = params.pop("head.bias")
    if params:  # a parameter with no place in the PyTorch model would be silently dropped
        raise ExportError(f"to_torch: no PyTorch name for parameter {sorted(params)[0]!r} "
                          f"of this {type(model).__name__}")
    return {name: np.ascontiguousarray(value) for name, value in out.items()}


def from_torch(state_dict, vocab, *, cell=None):
    """A CharRNN (embedding form) with the function of the PyTorch model whose state_dict is given.

    `state_dict` maps the names above to arrays or to anything with `.numpy()` (a torch tensor:
    read with `.detach().cpu().numpy()`, without this package importing torch). The architecture
    is read from the names and shapes: num_layers from the layers present, V and E from
    embedding.weight, H from weight_hh_l0 (gH, H), the cell from g. `cell`, when given, must
    agree. `vocab` (anything with `.chars`, or None) becomes `model.vocab`; it must have V
    characters. Missing or unexpected keys, a wrong shape or dtype, NaN or Inf values raise
    ExportError naming the key.
    """
    arrays = {name: _as_array(value) for name, value in state_dict.items()}
    return _build(arrays, vocab, cell, "from_torch")


def _build(arrays, vocab, cell, where):
    """`from_torch` on numpy arrays; errors start with `where` (the function or the file)."""
    layers = 0
    while f"rnn.weight_ih_l{layers}" in arrays:
        layers += 1
    expected = ["embedding.weight"] + [f"rnn.{kind}_l{k}" for k in range(max(layers, 1))
                                       for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    expected += ["head.weight", "head.bias"]
    missing = [name for name in expected if name not in arrays]
    if missing:
        raise ExportError(f"{where}: missing key(s) in state_dict: " + ", ".join(missing))
    unexpected = [name for name in arrays if name not in expected]
    if unexpected:
        raise ExportError(f"{where}: unexpected key(s) in state_dict: " + ", ".join(unexpected)
                          + " (the model is Embedding -> one-directional RNN/LSTM/GRU with "
                          "biases -> Linear)")
    dtype = _common_dtype(arrays, where)
    embedding, hh = arrays["embedding.weight"], arrays["rnn.weight_hh_l0"]
    for name in ("embedding.weight", "rnn.weight_hh_l0"):
        if arrays[name].ndim != 2:
            raise ExportError(f"{where}: {name!r} has shape {arrays[name].shape}, expected 2 "
                              "dimensions")
    (V, E), H = embedding.shape, hh.shape[1]
    found = next((c for c, g in GATES.items() if hh.shape[0] == g * H), None)
    if found is None:
        raise ExportError(f"{where}: 'rnn.weight_hh_l0' has shape {hh.shape}: its rows should "
                          f"be 1, 4 or 3 times its {H} columns (rnn, lstm or gru)")
    if cell is not None and cell != found:
        raise ExportError(f"{where}: the cell should be {cell!r}, but the arrays are shaped "
                          f"for a {found!r} ('rnn.weight_hh_l0' is {hh.shape})")
    gH = GATES[found] * H
    for name in expected:
        want = _shape(name, V, E, H, gH)
        if arrays[name].shape != want:
            raise ExportError(f"{where}: {name!r} has shape {arrays[name].shape}, expected "
                              f"{want} for a {layers}-layer {found} with V={V}, E={E}, H={H}")
    for name in expected:  # a checkpoint refuses them: say so before one is written
        if not np.isfinite(arrays[name]).all():
            raise ExportError(f"{where}: {name!r} holds NaN or Inf values")
    if vocab is not None and len(vocab.chars) != V:
        raise ExportError(f"{where}: the vocabulary has {len(vocab.chars)} characters, "
                          f"'embedding.weight' has {V} rows")
    model = CharRNN(V, H, layers, cell=found, embedding_size=E, dtype=dtype)
    model.load_state_dict(_ours(arrays, found, layers))
    model.vocab = vocab
    return model


def _as_array(value):
    if hasattr(value, "detach"):  # a torch tensor, maybe on a GPU or requiring grad
        value = value.detach().cpu()
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value)


def _common_dtype(arrays, where):
    first = next(iter(arrays))
    dtype = arrays[first].dtype
    if dtype.name not in DTYPES:
        raise ExportError(f"{where}: {first!r} is {dtype}; expected float32 or float64")
    for name, value in arrays.items():
        if value.dtype != dtype:
            raise ExportError(f"{where}: {name!r} is {value.dtype}, {first!r} is {dtype}: "
                              "every array must have the same dtype")
    return dtype


def _shape(name, V, E, H, gH):
    """The shape PyTorch gives `name` in the model of these sizes."""
    if name == "embedding.weight":
        return (V, E)
    if name == "head.weight":
        return (V, H)
    if name == "head.bias":
        return (V,)
    kind, k = re.fullmatch(r"rnn\.(\w+)_l(\d+)", name).groups()
    return {"weight_ih": (gH, E if k == "0" else H), "weight_hh": (gH, H)}.get(kind, (gH,))


def _ours(arrays, cell, layers):
    """This package's state_dict (embedding form) from checked PyTorch arrays."""
    params = {"embedding.weight": arrays["embedding.weight"]}
    for k in range(layers):
        layer = f"rnn.layers.{k}."
        params[layer + "weight_xh"] = arrays[f"rnn.weight_ih_l{k}"].T
        params[layer + "weight_hh"] = arrays[f"rnn.weight_hh_l{k}"].T
        b_ih, b_hh = arrays[f"rnn.bias_ih_l{k}"], arrays[f"rnn.bias_hh_l{k}"]
        if cell == "gru":
            params[layer + "bias_xh"], params[layer + "bias_hh"] = b_ih, b_hh
        else:
            params[layer + "bias"] = b_ih + b_hh
    params["head.weight"] = arrays["head.weight"].T
    params["head.bias"] = arrays["head.bias"]
    return params


# --- safetensors files -----------------------------------------------------------------------

def architecture(model):
    """What the file's metadata says of `model`: its config() but the training-only dropout."""
    config = model.config()
    return {key: config[key] for key in ARCHITECTURE_KEYS}


def save_safetensors(model, path):
    """Write `to_torch(model)` to `path` as safetensors, with the vocabulary and the architecture
    in the metadata. Atomic: a temporary file in the same folder, fsync, os.replace; on any
    failure `path` is left as it was and nothing else remains."""
    safetensors_numpy = _safetensors()[1]
    if model.vocab is None:
        raise ExportError(f"{path}: the model has no vocabulary to save; set model.vocab first")
    metadata = {"vocab": json.dumps(model.vocab.chars),
                "architecture": json.dumps(architecture(model))}
    data = safetensors_numpy.save(to_torch(model), metadata=metadata)
    try:
        write_atomically(path, lambda f: f.write(data))
    except OSError as err:
        raise ExportError(f"{path}: cannot write it ({err.strerror or err}); nothing was "
                          "written") from None


def load_safetensors(path):
    """(model, characters) from a file written by `save_safetensors`, or by PyTorch with the
    same metadata. The model is `from_torch` of the file's arrays, checked against the
    architecture in the metadata; its `vocab` is None: set it from the characters (a str),
    e.g. `model.vocab = Vocab(chars)`."""
    safe_open, _ = _safetensors()
    if os.path.isdir(path):  # safetensors reports it as "No such device"
        raise ExportError(f"{path}: is a directory, not a safetensors file")
    try:
        with safe_open(os.fspath(path), framework="np") as f:
            metadata = f.metadata() or {}
            arrays = {name: f.get_tensor(name) for name in f.keys()}
    except FileNotFoundError:
        raise ExportError(f"{path}: no such file") from None
    except OSError as err:
        raise ExportError(f"{path}: cannot read it ({err.strerror or err})") from None
    except Exception as err:  # safetensors' SafetensorError: not the format, or truncated
        raise ExportError(f"{path}: not a safetensors file ({err})") from None
    chars = _read_json(path, metadata, "vocab", str)
    if not chars or list(chars) != sorted(set(chars)):
        raise ExportError(f"{path}: metadata 'vocab' should be distinct sorted characters")
    config = _read_architecture(path, metadata)
    model = _build(arrays, None, config["cell"], path)
    # the documents' form (embedding_size None) travels as Embedding(V, V)
    found = model.config()
    wanted = dict(config, embedding_size=config["vocab_size"] if config["embedding_size"] is None
                  else config["embedding_size"])
    for key in ARCHITECTURE_KEYS:
        if found[key] != wanted[key]:
            raise ExportError(f"{path}: the metadata's architecture has {key}={wanted[key]!r}, "
                              f"the arrays have {found[key]!r}")
    if len(chars) != model.vocab_size:
        raise ExportError(f"{path}: metadata 'vocab' has {len(chars)} characters, the model "
                          f"{model.vocab_size}")
    return model, chars


def _safetensors():
    try:
        import safetensors
        import safetensors.numpy
    except ImportError:
        raise ExportError(f"safetensors files need the safetensors package: {EXTRA}") from None
    return safetensors.safe_open, safetensors.numpy


def _read_json(path, metadata, key, kind):
    if key not in metadata:
        raise ExportError(f"{path}: no {key!r} in the file's metadata; not a tinygrad_rnn export")
    try:
        value = json.loads(metadata[key])
    except ValueError as err:
        raise ExportError(f"{path}: metadata {key!r} is not valid JSON ({err})") from None
    if not isinstance(value, kind):
        raise ExportError(f"{path}: metadata {key!r} should be a JSON {kind.__name__}")
    return value


def _read_architecture(path, metadata):
    """The metadata's architecture (`CharRNN.config()` but the dropout), if this package can
    build it."""
    config = _read_json(path, metadata, "architecture", dict)
    if sorted(config) != sorted(ARCHITECTURE_KEYS):
        raise ExportError(f"{path}: unknown architecture in the metadata: keys "
                          f"{sorted(config)}, expected {sorted(ARCHITECTURE_KEYS)}")
    if config["cell"] not in GATES or config["dtype"] not in DTYPES:
        raise ExportError(f"{path}: unknown architecture in the metadata: cell "
                          f"{config['cell']!r}, dtype {config['dtype']!r} (known: "
                          f"{', '.join(GATES)}; {', '.join(DTYPES)})")
    return config
