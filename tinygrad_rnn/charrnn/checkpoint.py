"""Checkpoints: a model, its vocabulary, its optimizer and where training stood, in one `.npz` file.

The format is numpy's `.npz` (a zip of `.npy` arrays), written and read with `allow_pickle=False`,
so loading a file can never run code hidden in it. Everything that isn't an array (configuration,
vocabulary, step, history, RNG state, the optimizer's numbers) is JSON, stored as the UTF-8 bytes
of the array `meta`. Wherever an array sits in one of those nested structures, the JSON holds
{"$array": NAME} and the array is stored under NAME, so the nested dicts come back as they went in.

Writing is atomic (files.write_atomically): a crash or Ctrl-C at any moment leaves the previous
checkpoint intact, and a writer killed mid-save leaves only a hidden temporary file
(".NAME.*.tmp"), which the next save to that path removes.
"""
import json
from dataclasses import dataclass, field

import numpy as np

from ..files import write_atomically

from ..nn import CharRNN
from ..nn.charrnn import DTYPES, complete_config
from .arraytree import pack, unpack
from .data import Vocab

FORMAT = "tinygrad_rnn.checkpoint"
# 1: release 0.1.0 (a one-hot RNN); 2: the config names the cell and the embedding size (0.2.0);
# 3: and the dropout (0.3.0); 4: the run's settings name the weight decay (0.5.0). Earlier
# versions are read as the current one (`_upgrade`).
VERSION = 4


class CheckpointError(Exception):
    """A checkpoint can't be read or doesn't fit: the message names the file and what is wrong."""


@dataclass
class Checkpoint:
    """What a checkpoint holds. `training` and `optimizer` are nested dicts that may hold arrays.

    config:    the model's description, `model.config()`: JSON values, among them "vocab_size"
               and "dtype"; `CharRNN.from_config(config)` rebuilds the model
    vocab:     the model's characters, sorted (see data.Vocab)
    params:    the model's state_dict, name -> array
    optimizer: the optimizer's state_dict, or None
    training:  the run: settings, step, data position, hidden state, RNG state, history
               (see config.RunState)
    """

    config: dict
    vocab: str
    params: dict
    optimizer: dict = None
    training: dict = field(default_factory=dict)


def save(path, checkpoint):
    """Write `checkpoint` to `path` atomically (temporary file, fsync, os.replace).

    If the file can't be written (disk full, read-only folder), CheckpointError says so and
    `path` is left as it was.
    """
    arrays = {}
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "config": checkpoint.config,
        "vocab": checkpoint.vocab,
        "params": pack(checkpoint.params, "params", arrays),
        "optimizer": pack(checkpoint.optimizer, "optimizer", arrays),
        "training": pack(checkpoint.training, "training", arrays),
    }
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)

    try:
        write_atomically(path, lambda f: np.savez(f, **arrays))
    except OSError as err:
        raise CheckpointError(f"{path}: cannot write the checkpoint ({err.strerror or err}); "
                              "the previous one, if any, is left as it was") from None


def load(path):
    """Read and check the checkpoint at `path`; raise CheckpointError naming any problem."""
    arrays = _read_arrays(path)
    if "meta" not in arrays:
        raise CheckpointError(f"{path}: no 'meta' entry; not a tinygrad_rnn checkpoint")
    meta = _read_meta(path, arrays.pop("meta"))
    try:
        params = unpack(meta["params"], arrays)
        optimizer = unpack(meta["optimizer"], arrays)
        training = unpack(meta["training"], arrays)
    except KeyError as err:
        raise CheckpointError(f"{path}: the metadata refers to array {err.args[0]!r}, which the "
                              "file does not contain") from None
    except (TypeError, ValueError):
        raise CheckpointError(f"{path}: malformed metadata (an array reference or a keyed list "
                              "is not in the expected form)") from None
    _check_layout(path, meta["config"], meta["vocab"], params)
    return Checkpoint(meta["config"], meta["vocab"], params, optimizer, training)


def _read_arrays(path):
    """Every array in the file, read now, so that a truncated or doctored file fails here."""
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except OSError as err:
        raise CheckpointError(f"{path}: cannot read it ({err.strerror})") from None
    if not magic:
        raise CheckpointError(f"{path}: the file is empty")
    if magic.startswith(b"\x80"):
        raise CheckpointError(f"{path}: a Python pickle; refusing to load it (a checkpoint holds "
                              "only arrays)")
    if magic.startswith(b"\x93NUMPY"):
        raise CheckpointError(f"{path}: a single .npy array, not a checkpoint (.npz)")
    if not magic.startswith(b"PK"):
        raise CheckpointError(f"{path}: not a checkpoint (not an .npz zip archive)")
    try:  # np.load(path) would leave the file open when the zip is unreadable: pass it a file
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
            return {name: _read_one(path, npz, name) for name in npz.files}
    except CheckpointError:
        raise
    except Exception as err:  # damaged bytes fail zipfile in many ways (NotImplementedError, ...)
        raise CheckpointError(f"{path}: truncated or corrupt ({_describe(err)})") from None


def _read_one(path, npz, name):
    try:
        value = npz[name]
    except ValueError as err:
        if "pickle" in str(err):
            raise CheckpointError(f"{path}: array {name!r} holds pickled Python objects; refusing "
                                  "to load it (a checkpoint holds only numeric arrays)") from None
        raise CheckpointError(f"{path}: array {name!r} is corrupt ({err})") from None
    except Exception as err:  # as in _read_arrays: zlib.error, RuntimeError, EOFError, ...
        raise CheckpointError(f"{path}: array {name!r} is truncated or corrupt "
                              f"({_describe(err)})") from None
    if not isinstance(value, np.ndarray):  # np.load hands zip members that aren't .npy as bytes
        raise CheckpointError(f"{path}: entry {name!r} is not a .npy array")
    return value


def _describe(err):
    return str(err) or type(err).__name__


def _read_meta(path, raw):
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise CheckpointError(f"{path}: 'meta' should be UTF-8 JSON bytes (1-D uint8), got "
                              f"{raw.dtype} of shape {raw.shape}")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise CheckpointError(f"{path}: malformed metadata, not valid UTF-8 JSON ({err})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a tinygrad_rnn checkpoint (its metadata has no "
                              f"\"format\": \"{FORMAT}\")")
    if meta.get("version") not in range(1, VERSION + 1):
        raise CheckpointError(f"{path}: checkpoint format version {meta.get('version')!r}; this "
                              f"tinygrad_rnn reads versions 1 to {VERSION}")
    for key, kind in [("config", dict), ("vocab", str), ("params", dict), ("training", dict)]:
        if not isinstance(meta.get(key), kind):
            raise CheckpointError(f"{path}: metadata entry {key!r} is missing or not a "
                                  f"{kind.__name__}")
    if "optimizer" not in meta:
        raise CheckpointError(f"{path}: metadata entry 'optimizer' is missing")
    return _upgrade(meta) if meta["version"] < VERSION else meta


def _upgrade(meta):
    """An earlier version's checkpoint as the current one: the keys its config and its run's
    settings lack filled in as the release that wrote it built the model
    (nn.charrnn.complete_config), so that resuming it builds the same model."""
    config = complete_config(meta["config"])
    settings = meta["training"].get("settings")
    if isinstance(settings, dict):
        settings = dict(settings, cell=config["cell"], dropout=config["dropout"],
                        embedding_size=config["embedding_size"] or 0)  # 0: the one-hot input
        # the weight decay those releases' optimizers had: AdamW's default, else none
        settings.setdefault("weight_decay", 0.01 if settings.get("optim") == "adamw" else 0.0)
        meta = dict(meta, training=dict(meta["training"], settings=settings))
    return dict(meta, config=config, version=VERSION)


def _check_layout(path, config, vocab, params):
    """The checks that need no model: the config's numbers (every whole number in it counts
    something, so it is positive) and dtype, the vocabulary, the parameters' dtypes and values."""
    dropout = config.get("dropout", 0.0)
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise CheckpointError(f"{path}: config 'dropout' should be a number in [0, 1), got "
                              f"{dropout!r}")
    for key, value in [("vocab_size", config.get("vocab_size")), *config.items()]:
        whole = isinstance(value, int) and not isinstance(value, bool)
        if key != "dropout" and (key == "vocab_size" or not isinstance(value, (str, type(None)))) \
                and not (whole and value >= 1):
            raise CheckpointError(f"{path}: config {key!r} should be a positive integer, got "
                                  f"{value!r}")
    if config.get("dtype") not in DTYPES:
        raise CheckpointError(f"{path}: config 'dtype' should be one of {', '.join(DTYPES)}, got "
                              f"{config.get('dtype')!r}")
    if len(vocab) != config["vocab_size"] or list(vocab) != sorted(set(vocab)):
        raise CheckpointError(f"{path}: the vocabulary should be {config['vocab_size']} distinct "
                              f"sorted characters, got {len(vocab)}")
    for name, value in params.items():
        if not isinstance(value, np.ndarray) or value.dtype != config["dtype"]:
            got = value.dtype if isinstance(value, np.ndarray) else type(value).__name__
            raise CheckpointError(f"{path}: parameter {name!r} should be a {config['dtype']} "
                                  f"array, got {got}")
        if not np.isfinite(value).all():
            raise CheckpointError(f"{path}: parameter {name!r} holds NaN or Inf values")


def check_params(path, params, expected):
    """Check that `params` has exactly the names, shapes and dtypes of `expected` (a state_dict)."""
    missing = sorted(set(expected) - set(params))
    unexpected = sorted(set(params) - set(expected))
    if missing or unexpected:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unexpected {', '.join(unexpected)}"] if unexpected else [])
        raise CheckpointError(f"{path}: parameters don't match the model: {'; '.join(parts)}")
    for name, want in expected.items():
        got = params[name]
        want = np.asarray(want)
        if got.shape != want.shape:
            raise CheckpointError(f"{path}: parameter {name!r} has shape {got.shape}, the model "
                                  f"expects {want.shape}")
        if got.dtype != want.dtype:
            raise CheckpointError(f"{path}: parameter {name!r} has dtype {got.dtype}, the model "
                                  f"expects {want.dtype}")


def model_from(saved, path):
    """The CharRNN that the loaded checkpoint `saved` (read from `path`) holds, with its
    vocabulary. Its size is checked against the arrays stored before it is built, so a doctored
    config can't make it allocate more than the file holds."""
    stored = sum(value.size for value in saved.params.values())
    try:
        count = CharRNN.parameter_count(saved.config)
        if count != stored:
            raise ValueError(f"a model of {count:,} parameters, the file holds {stored:,} numbers")
        model = CharRNN.from_config(saved.config)
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: its config {saved.config} does not describe the model "
                              f"its parameters make ({type(err).__name__}: {err})") from None
    check_params(path, saved.params, model.state_dict())
    model.load_state_dict(saved.params)
    model.vocab = Vocab(saved.vocab)
    return model


def load_model(path):
    """The CharRNN saved in the checkpoint at `path`, with its vocabulary, ready to sample."""
    return model_from(load(path), path)
