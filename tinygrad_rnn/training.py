"""Training a CharRNN with truncated backpropagation through time, evaluating it, sampling from it.

One training step (truncated BPTT): take the next chunk of T characters from each of the B
streams (data.Batches), run the model over it starting from the hidden state the previous chunk
ended with, and backpropagate the mean cross-entropy over the B*T predictions:

    logits, h = model(inputs, h)          h: (num_layers, B, H), None at the start of a pass
    loss = cross_entropy(logits, targets)  nats per character
    loss.backward(); clip_grad_norm_; optimizer.step()
    h = h.detach()                         the next chunk starts from h but won't backpropagate
                                           into this one: that cut is what makes BPTT truncated

The learning rate follows a schedule over the run (optim.scheduled_lr): by default "wsd", the
peak rate until 70 % of the run, then a linear decay to 0.

Losses are in nats per character (natural log); bits per character = nats / ln 2. A model that
knows nothing scores ln V (4.17 nats for 65 characters).
"""
import hashlib
import math
import os
import signal
import sys
import threading
import time

import numpy as np

from . import checkpoint as ckpt
from . import optim
from .allocator import keep_freed_memory
from .autograd import no_grad
from .checkpoint import CheckpointError
from .data import CharDataset, Vocab, load_text
from .nn import CharRNN, clip_grad_norm_, cross_entropy
from .nn.sampling import default_prime, generate, sample_chars  # noqa: F401  (re-exported)
from .optim import LR_SCHEDULES, scheduled_lr
from .tensor import Tensor

OPTIMIZERS = {"sgd": optim.SGD, "adagrad": optim.Adagrad, "adam": optim.Adam, "adamw": optim.AdamW}

# The defaults: what a 5-minute run on tinyshakespeare on 2 cores learned best with. Per second,
# 128 streams teach more than 32: each step's matrix products are bigger, for the same number of
# Python-level operations, and the gradient averages over more of the text. Holding the peak rate
# for 70 % of the run, then decaying it linearly to 0 ("wsd"), gains about 0.05 nats/char over a
# constant rate; a cosine decay over the whole run does no better than a constant rate. With
# "wsd", a peak of 6e-3 does better than 4e-3 (the best constant rate).
DEFAULTS = dict(hidden_size=256, num_layers=1, batch_size=128, seq_len=64, lr=6e-3,
                lr_schedule="wsd", optim="adam", clip=5.0, eval_every=250, seed=0, dtype="float32")

# Settings that shape a run: resuming takes them from the checkpoint and may not change them.
FIXED_ON_RESUME = ("hidden_size", "num_layers", "dtype", "batch_size", "seq_len", "optim", "seed")

EVAL_STREAMS, EVAL_SEQ_LEN = 16, 256  # validation is read as 16 parallel streams
SAMPLE_LENGTH, SAMPLE_TEMPERATURE = 200, 0.8  # the sample shown at each evaluation


class TrainingDiverged(RuntimeError):
    """The loss or a parameter became NaN or Inf. Training can't recover from that, so it stops
    at once, and saves nothing: the checkpoint keeps the last good state."""


def train(data=None, out=None, *, hidden_size=None, num_layers=None, batch_size=None,
          seq_len=None, steps=10_000, time_budget=300.0, lr=None, lr_schedule=None, optim=None,
          clip=None, eval_every=None, seed=None, dtype=None, resume=None, verbose=True):
    """Train a CharRNN on a text file; return `(model, history)`.

    data:        path of a UTF-8 text file; None for the packaged tinyshakespeare
    out:         checkpoint path, written at every evaluation, at the end, and on Ctrl-C
    steps:       at most this many optimizer steps in this call
    time_budget: stop in time to finish within this many seconds (None: no limit)
    lr:          the peak learning rate
    lr_schedule: one of constant, linear, cosine, wsd: how the learning rate changes over the
                 run (the formulas are in optim.scheduled_lr)
    clip:        maximum gradient norm (0: no clipping)
    eval_every:  evaluate (and save) every this many steps, and always at the last one
    resume:      a checkpoint to continue from, exactly where it stopped

    Settings left as None take the checkpoint's value when resuming, else `DEFAULTS`. `history`
    is a list of {"step", "train_loss", "val_loss", "seconds"}, one per evaluation, in
    nats/char: train_loss averages the steps since the previous evaluation, val_loss covers the
    whole validation text, seconds counts the run's wall time (across resumes).

    The schedule runs over this call's `steps` and `time_budget`: its progress is the larger of
    steps taken / steps and seconds spent / time_budget, from 0 to 1. With `time_budget=None` it
    depends on the step count only, and a run is repeatable bit for bit; under a time budget the
    learning rate at a given step depends on the machine's speed. The checkpoint keeps the
    schedule's start and horizon: a run stopped by Ctrl-C or a crash and resumed continues the
    same schedule, and stops where it would have stopped. A call that ends normally ends its
    schedule too, so resuming after it (to train longer) starts a new one over the new call's
    `steps` and `time_budget`; with the constant schedule that is the same as going on.

    On Ctrl-C the step in progress finishes, the checkpoint is saved, and KeyboardInterrupt is
    raised again. A second Ctrl-C interrupts at once (the last checkpoint stays intact).

    If the loss or a parameter becomes NaN or Inf, TrainingDiverged is raised without saving.

    Training sets glibc's malloc to keep freed memory in the process (`allocator.keep_freed_memory`)
    for the rest of the process's life.
    """
    given = dict(hidden_size=hidden_size, num_layers=num_layers, batch_size=batch_size,
                 seq_len=seq_len, lr=lr, lr_schedule=lr_schedule, optim=optim, clip=clip,
                 eval_every=eval_every, seed=seed, dtype=dtype)
    _check_positive("steps", steps, int)
    if time_budget is not None:
        _check_positive("time_budget", time_budget, (int, float))
    if out is not None:
        _check_writable(out)
        if data is not None and os.path.exists(out) and os.path.samefile(out, data):
            raise ValueError(f"--out {out} is the training text itself: saving would overwrite it")
    saved = _load_resumable(resume) if resume is not None else None
    settings = _settings(given, saved, resume)

    text = load_text(data if data is not None or saved is None else saved.training["data"])
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if saved is not None and digest != saved.training["data_sha256"]:
        raise CheckpointError(f"{resume}: was trained on other text than "
                              f"{data or saved.training['data'] or 'the default corpus'}")
    vocab = Vocab(saved.vocab) if saved is not None else None
    dataset = CharDataset(text, vocab=vocab)
    batches = dataset.batches(settings["batch_size"], settings["seq_len"])
    _check_fits_in_memory(settings, len(dataset.vocab))

    keep_freed_memory()  # each step reuses the last one's memory: ~10 % faster (see allocator.py)
    rng = np.random.default_rng(settings["seed"])
    model = CharRNN(len(dataset.vocab), settings["hidden_size"], settings["num_layers"],
                    dtype=np.dtype(settings["dtype"]), rng=rng)
    model.vocab = dataset.vocab
    optimizer = OPTIMIZERS[settings["optim"]](model.parameters(), lr=settings["lr"])
    run = _new_run()
    if saved is not None:
        _restore(saved, resume, model, optimizer, rng, run, settings)
        if not 0 <= run["chunk"] < len(batches):
            raise CheckpointError(f"{resume}: its data position, chunk {run['chunk']}, is not in "
                                  f"a pass of {len(batches)} chunks")

    last_saved = None  # the step of the last checkpoint this call wrote

    def save():
        nonlocal last_saved
        if out is not None:
            ckpt.save(out, _checkpoint(model, optimizer, rng, run, settings, data, digest))
            last_saved = run["step"]

    def stop_if(problem, step):
        """Raise TrainingDiverged if there is a `problem` (what is NaN or Inf) at `step`."""
        if problem is not None:
            progress.close()
            raise _diverged(problem, step, settings, out, last_saved)

    steps, time_budget = _start_or_continue_schedule(run, steps, time_budget)
    progress = _Progress(steps, time_budget, verbose)
    h = None if run["hidden"] is None else Tensor(run["hidden"])
    seconds_before, start = run["seconds"], time.perf_counter()
    steps_done, step_seconds, eval_seconds, speed = 0, 0.0, 0.0, 0.0
    # Overflows are caught as NaN/Inf below, with a clearer message than numpy's warnings.
    with _StopOnInterrupt() as interrupt, np.errstate(all="ignore"):
        while steps_done < steps and not interrupt.requested:
            elapsed = time.perf_counter() - start
            if time_budget is not None and steps_done and (
                    elapsed + step_seconds / steps_done + eval_seconds > time_budget):
                break  # no time for another step and the final evaluation
            tick = time.perf_counter()
            if run["chunk"] == 0:
                h = None  # each pass over the text starts from a zero state
            done = _progress(run["lr_horizon"], run["step"], seconds_before + tick - start)
            for group in optimizer.param_groups:
                group["lr"] = scheduled_lr(settings["lr_schedule"], settings["lr"], done)
            inputs, targets = batches[run["chunk"]]
            loss, h = train_step(model, optimizer, inputs, targets, h, settings["clip"])
            stop_if(_non_finite(loss, model), run["step"] + 1)

            run["step"] += 1
            run["chunk"] += 1
            if run["chunk"] == len(batches):
                run["pass"], run["chunk"] = run["pass"] + 1, 0
            run["hidden"] = h.data
            run["loss_sum"] += loss
            run["loss_steps"] += 1
            run["seconds"] = seconds_before + time.perf_counter() - start
            steps_done += 1
            step_seconds += time.perf_counter() - tick
            speed = steps_done * inputs.size / step_seconds  # characters per second
            progress.step(run, steps_done, speed, time.perf_counter() - start)

            if run["step"] % settings["eval_every"] == 0:
                tick = time.perf_counter()
                _evaluate_and_report(model, dataset, rng, run, progress, speed, stop_if)
                save()
                eval_seconds = time.perf_counter() - tick
        if not interrupt.requested:
            if run["loss_steps"]:  # steps taken since the last evaluation
                _evaluate_and_report(model, dataset, rng, run, progress, speed, stop_if)
            run["lr_horizon"] = None  # this call ran to its end, and so did its schedule
        save()  # after Ctrl-C: as it stands after the last whole step, without an evaluation
    progress.close()
    if interrupt.requested:
        raise KeyboardInterrupt(f"stopped at step {run['step']}")
    return model, run["history"]


def _start_or_continue_schedule(run, steps, time_budget):
    """This call's (steps, time_budget), and the lr schedule's horizon in `run["lr_horizon"]`.

    A new run, or one whose last call ended normally, starts a schedule over this call's steps
    and time budget. A run that was interrupted (Ctrl-C, a crash) continues its schedule, and
    stops at the schedule's end at the latest.
    """
    horizon = run["lr_horizon"]
    if horizon is None:
        run["lr_horizon"] = {"start_step": run["step"], "start_seconds": run["seconds"],
                             "steps": steps, "time_budget": time_budget}
        return steps, time_budget
    steps = min(steps, horizon["start_step"] + horizon["steps"] - run["step"])
    if horizon["time_budget"] is not None:
        left = horizon["start_seconds"] + horizon["time_budget"] - run["seconds"]
        time_budget = left if time_budget is None else min(time_budget, left)
    return steps, time_budget


def _progress(horizon, step, seconds):
    """How far a run at `step`, `seconds` is through its lr schedule: the larger of the fractions
    of the schedule's steps and of its time budget used (0 at its start, 1 at its end)."""
    done = (step - horizon["start_step"]) / horizon["steps"]
    if horizon["time_budget"] is not None:
        done = max(done, (seconds - horizon["start_seconds"]) / horizon["time_budget"])
    return done


def train_step(model, optimizer, inputs, targets, h, clip):
    """One step of truncated BPTT on a chunk; returns (the loss, the final state detached)."""
    logits, h = model(inputs, h)
    loss = cross_entropy(logits, targets)
    optimizer.zero_grad()
    loss.backward()
    if clip:
        clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    return loss.item(), h.detach()


def _non_finite(loss, model):
    """What, if anything, is NaN or Inf after a step: the loss, or a parameter (a finite loss
    doesn't rule out an update that overflowed, and an Inf weight can hide behind a tanh)."""
    if not math.isfinite(loss):
        return f"the loss is {loss}"
    for name, p in model.named_parameters():
        if not np.isfinite(p.data).all():
            return f"parameter {name} holds NaN or Inf"
    return None


def _diverged(what, step, settings, out, last_saved):
    """The TrainingDiverged error: what went wrong, where the last good state is, what to try."""
    if out is None:
        kept = ""
    elif last_saved is None:
        kept = f"; {out} is left as it was"
    else:
        kept = f"; {out} keeps step {last_saved}, the last good state"
    clip = f"a lower --clip (now {settings['clip']:g})" if settings["clip"] else "--clip 1"
    return TrainingDiverged(f"training diverged at step {step}: {what}{kept}. Try a lower --lr "
                            f"(now {settings['lr']:g}) or {clip}")


def _evaluate_and_report(model, dataset, rng, run, progress, chars_per_sec, stop_if):
    """Score the validation text, log it with a sample, and start a new train-loss average."""
    train_loss = run["loss_sum"] / run["loss_steps"]
    val_loss = evaluate(model, dataset)
    stop_if(None if math.isfinite(val_loss) else f"the validation loss is {val_loss}", run["step"])
    entry = {"step": run["step"], "train_loss": train_loss, "val_loss": val_loss,
             "seconds": round(run["seconds"], 3)}
    run["history"].append(entry)
    run["loss_sum"], run["loss_steps"] = 0.0, 0
    sample = generate(model, default_prime(model.vocab), SAMPLE_LENGTH,
                      temperature=SAMPLE_TEMPERATURE, seed=int(rng.integers(2**32)))
    progress.evaluation(entry, chars_per_sec, sample)


@no_grad()
def evaluate(model, dataset, streams=EVAL_STREAMS, seq_len=EVAL_SEQ_LEN):
    """Mean cross-entropy (nats/char) of `model` over the whole validation text of `dataset`.

    Every validation character is predicted once, from all the characters before it in its
    stream: the hidden state is carried from chunk to chunk (see CharDataset.validation_chunks).
    """
    total, count, h = 0.0, 0, None
    for inputs, targets, carry in dataset.validation_chunks(streams, seq_len):
        logits, h_next = model(inputs, h if carry == "all" else h[:, -1:])
        total += cross_entropy(logits, targets, reduction="sum").item()
        count += targets.size
        if carry == "all":
            h = h_next
    return total / count


# --- settings, checkpoints ---------------------------------------------------------------------

def _check_positive(name, value, kind):
    if isinstance(value, bool) or not isinstance(value, kind) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def _check_writable(out):
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise ValueError(f"cannot write the checkpoint {out}: no such directory {folder}")
    if os.path.isdir(out):
        raise ValueError(f"cannot write the checkpoint {out}: it is a directory")
    if not os.path.basename(os.fspath(out)):
        raise ValueError(f"cannot write the checkpoint {out!r}: the path names no file")
    if not os.access(folder, os.W_OK):  # fail now, not at the first save minutes later
        raise ValueError(f"cannot write the checkpoint {out}: the directory {folder} is not "
                         "writable")


def _check_fits_in_memory(settings, vocab_size):
    """Refuse a model too big for this machine before building it: --num-layers 100000 would
    otherwise allocate layer after layer until the system kills the process."""
    count = CharRNN.parameter_count(dict(vocab_size=vocab_size, hidden_size=settings["hidden_size"],
                                         num_layers=settings["num_layers"]))
    need = 4 * count * np.dtype(settings["dtype"]).itemsize  # with gradients and 2 moments
    try:
        have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows): don't guess
        return
    if need > have:
        raise ValueError(f"a model of {count:,} parameters needs about {need / 2**30:,.0f} GiB to "
                         f"train, more than this machine's {have / 2**30:,.0f} GiB; use a smaller "
                         f"--hidden-size or --num-layers")


def _settings(given, saved, resume):
    """Each setting from the arguments, else the checkpoint, else DEFAULTS; then checked."""
    previous = saved.training["settings"] if saved is not None else {}
    settings = {}
    for name, default in DEFAULTS.items():
        value = given[name]
        if value is None:
            value = previous.get(name, default)
        elif name in FIXED_ON_RESUME and name in previous and value != previous[name]:
            raise CheckpointError(f"{resume}: was trained with {name} = {previous[name]!r}; a "
                                  f"resumed run can't change it to {value!r}")
        settings[name] = value
    for name in ("hidden_size", "num_layers", "batch_size", "seq_len", "eval_every"):
        _check_positive(name, settings[name], int)
    _check_positive("lr", settings["lr"], (int, float))
    if isinstance(settings["seed"], bool) or not isinstance(settings["seed"], int) \
            or settings["seed"] < 0:
        raise ValueError(f"seed must be a non-negative integer, got {settings['seed']!r}")
    if not isinstance(settings["clip"], (int, float)) or not settings["clip"] >= 0:
        raise ValueError(f"clip must be >= 0 (0: no clipping), got {settings['clip']!r}")
    if settings["lr_schedule"] not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, "
                         f"got {settings['lr_schedule']!r}")
    if settings["optim"] not in OPTIMIZERS:
        raise ValueError(f"optim must be one of {', '.join(OPTIMIZERS)}, got {settings['optim']!r}")
    if settings["dtype"] not in ckpt.DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(ckpt.DTYPES)}, "
                         f"got {settings['dtype']!r}")
    return settings


def _new_run():
    """Where a run stands, saved in checkpoints besides the model, the optimizer and the RNG:
    steps taken, data position (pass, chunk within it), the hidden state carried into the next
    chunk, wall time, history, the running sum for the next evaluation's train loss, and the lr
    schedule's start and horizon (None once a call has ended normally)."""
    return {"step": 0, "pass": 0, "chunk": 0, "hidden": None, "seconds": 0.0, "history": [],
            "loss_sum": 0.0, "loss_steps": 0, "lr_horizon": None}


def _load_resumable(path):
    """A checkpoint with everything a resumed run needs, of the right kinds."""
    saved = ckpt.load(path)
    saved.training.setdefault("lr_horizon", None)  # checkpoints from before lr schedules
    kinds = {"settings": dict, "rng": dict, "data": (str, type(None)), "data_sha256": str,
             "hidden": (np.ndarray, type(None)), "history": list, "seconds": (int, float),
             "loss_sum": (int, float), "step": int, "pass": int, "chunk": int, "loss_steps": int,
             "lr_horizon": (dict, type(None))}
    for key, kind in kinds.items():
        if key not in saved.training or not isinstance(saved.training[key], kind):
            raise CheckpointError(f"{path}: can't resume from it: its training state has no "
                                  f"valid {key!r}")
    horizon = saved.training["lr_horizon"]
    if horizon is not None and not _valid_horizon(horizon):
        raise CheckpointError(f"{path}: can't resume from it: its training state has no valid "
                              "'lr_horizon'")
    return saved


def _valid_horizon(horizon):
    number = (int, float)
    return (set(horizon) == {"start_step", "start_seconds", "steps", "time_budget"}
            and isinstance(horizon["start_step"], int) and isinstance(horizon["steps"], int)
            and horizon["steps"] > 0 and isinstance(horizon["start_seconds"], number)
            and (horizon["time_budget"] is None or isinstance(horizon["time_budget"], number)
                 and horizon["time_budget"] > 0))


def _checkpoint(model, optimizer, rng, run, settings, data, digest):
    training = dict(run, settings=settings, rng=rng.bit_generator.state, data_sha256=digest,
                    data=None if data is None else os.fspath(data))
    return ckpt.Checkpoint(config=model_config(model), vocab=model.vocab.chars,
                           params=model.state_dict(), optimizer=optimizer.state_dict(),
                           training=training)


def _restore(saved, path, model, optimizer, rng, run, settings):
    """Put the model, optimizer, RNG and run state back as they were when `saved` was written."""
    if saved.config != model_config(model):
        raise CheckpointError(f"{path}: its model is {saved.config}, expected "
                              f"{model_config(model)}")
    ckpt.check_params(path, saved.params, model.state_dict())
    model.load_state_dict(saved.params)
    try:
        optimizer.load_state_dict(saved.optimizer)
        rng.bit_generator.state = saved.training["rng"]
    except (AttributeError, KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: its optimizer or RNG state doesn't fit "
                              f"({type(err).__name__}: {err})") from None
    hidden = saved.training["hidden"]
    shape = (settings["num_layers"], settings["batch_size"], settings["hidden_size"])
    if hidden is not None and (hidden.shape != shape or hidden.dtype != settings["dtype"]):
        raise CheckpointError(f"{path}: its hidden state is {hidden.dtype} {hidden.shape}, "
                              f"expected {settings['dtype']} {shape}")
    run.update((key, saved.training[key]) for key in run)


def model_config(model):
    """The numbers that rebuild `model`'s shape (see CharRNN.config)."""
    return model.config()


def load_model(path):
    """The CharRNN saved in the checkpoint at `path`, with its vocabulary, ready to sample."""
    saved = ckpt.load(path)
    model = CharRNN.from_config(saved.config)
    ckpt.check_params(path, saved.params, model.state_dict())
    model.load_state_dict(saved.params)
    model.vocab = Vocab(saved.vocab)
    return model


# --- Ctrl-C and progress display -------------------------------------------------------------

class _StopOnInterrupt:
    """Turn the first Ctrl-C into a request to stop after the current step (so that the state
    saved is a consistent one); the second Ctrl-C raises KeyboardInterrupt at once as usual.
    Signal handlers can only be set from the main thread; elsewhere this does nothing."""

    def __enter__(self):
        self.requested = False
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        self.requested = True
        signal.signal(signal.SIGINT, self._previous)

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


class _Progress:
    """A one-line progress bar on a terminal; elsewhere, only a log line per evaluation."""

    def __init__(self, steps, time_budget, verbose):
        self.stream = sys.stdout
        self.verbose = verbose
        self.tty = verbose and self.stream.isatty()
        self.steps, self.time_budget = steps, time_budget
        self.val_loss = None
        self.last_draw = 0.0

    def step(self, run, steps_done, chars_per_sec, elapsed):
        if not self.tty or time.perf_counter() - self.last_draw < 0.1:
            return
        self.last_draw = time.perf_counter()
        left = (self.steps - steps_done) * elapsed / steps_done
        if self.time_budget is not None:
            left = min(left, self.time_budget - elapsed)
        val = "-" if self.val_loss is None else f"{self.val_loss:.3f}"
        train_loss = run["loss_sum"] / run["loss_steps"]
        self.stream.write(f"\r\x1b[Kstep {run['step']} | train {train_loss:.3f} | val {val} | "
                          f"{chars_per_sec / 1000:.1f}k chars/s | {left:.0f}s left")
        self.stream.flush()

    def evaluation(self, entry, chars_per_sec, sample):
        self.val_loss = entry["val_loss"]
        if not self.verbose:
            return
        if self.tty:
            self.stream.write("\r\x1b[K")
        bits = 1 / math.log(2)
        self.stream.write(
            f"step {entry['step']:>6} | train {entry['train_loss']:.3f} nats/char "
            f"({entry['train_loss'] * bits:.3f} bits) | val {entry['val_loss']:.3f} nats/char "
            f"({entry['val_loss'] * bits:.3f} bits) | {chars_per_sec / 1000:.1f}k chars/s | "
            f"{entry['seconds']:.0f}s\n")
        self.stream.write("    " + sample.replace("\n", "\n    ") + "\n")
        self.stream.flush()

    def close(self):
        if self.tty:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
