"""A training run into a checkpoint, and back: what `--resume` needs to go on exactly.

Besides the model and its vocabulary, a run's checkpoint holds the optimizer's state, the
settings, the random generator's state, the run state (config.RunState: step, data position,
carried state, wall time, history, the schedule's horizon), the path of the text and its SHA-256.
"""
import os

import numpy as np

from . import carry
from .checkpoint import Checkpoint, CheckpointError, check_params, load
from .config import RunState


def load_resumable(path):
    """(the checkpoint at `path`, its RunState, carried state still as arrays), checked to hold
    everything a resumed run needs, of the right kinds."""
    saved = load(path)
    training = saved.training
    for key, kind in (("settings", dict), ("rng", dict), ("data", (str, type(None))),
                      ("data_sha256", str)):
        if not isinstance(training.get(key), kind):
            raise CheckpointError(f"{path}: can't resume from it: its training state has no "
                                  f"valid {key!r}")
    return saved, RunState.from_dict(training, path)


def run_checkpoint(model, optimizer, rng, run, settings, data, digest):
    """The checkpoint of a run as it stands: `data` is the text's path (None: the packaged
    corpus), `digest` its SHA-256."""
    training = dict(run.to_dict(carry.to_arrays(run.state)), settings=settings.to_dict(),
                    rng=rng.bit_generator.state, data_sha256=digest,
                    data=None if data is None else os.fspath(data))
    return Checkpoint(config=model.config(), vocab=model.vocab.chars, params=model.state_dict(),
                      optimizer=optimizer.state_dict(), training=training)


def restore(saved, run, path, model, optimizer, rng, settings):
    """Put the model, optimizer and RNG back as they were when `saved` was written, and `run`'s
    carried state back into Tensors; raise CheckpointError if anything doesn't fit."""
    if saved.config != model.config():  # load() has completed a release 0.1.0 config
        raise CheckpointError(f"{path}: its model is {saved.config}, expected {model.config()}")
    check_params(path, saved.params, model.state_dict())
    model.load_state_dict(saved.params)  # into the model built from the settings: no second one
    try:
        optimizer.load_state_dict(saved.optimizer)
        rng.bit_generator.state = saved.training["rng"]
    except (AttributeError, KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: its optimizer or RNG state doesn't fit "
                              f"({type(err).__name__}: {err})") from None
    shape = (settings.num_layers, settings.batch_size, settings.hidden_size)
    run.state = carry.from_arrays(run.state, path, shape, np.dtype(settings.dtype))
