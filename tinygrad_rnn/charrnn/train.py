"""Training a CharRNN with truncated backpropagation through time.

One training step (truncated BPTT): take the next chunk of T characters from each of the B
streams (data.Batches), run the model over it starting from the state the previous chunk ended
with, and backpropagate the mean cross-entropy over the B*T predictions:

    logits, state = model(inputs, state)   state: h (num_layers, B, H), or the pair (h, c) for
                                           an LSTM; None (zeros) at a pass's start
    loss = cross_entropy(logits, targets)  nats per character
    loss.backward(); clip_grad_norm_; optimizer.step()
    state = detach(state)                  the next chunk starts from it but won't backpropagate
                                           into this one: that cut is what makes BPTT truncated

The learning rate follows a schedule over the run (optim.scheduled_lr): by default "wsd", the
peak rate until 70 % of the run, then a linear decay to 0.
"""
import hashlib
import math
import os
import time

import numpy as np

from .. import allocator
from ..jit import jit as traced
from ..nn import CharRNN, clip_grad_norm_, cross_entropy
from ..optim import scheduled_lr
from . import carry
from .checkpoint import CheckpointError, save
from .config import OPTIMIZERS, RunState, TrainSettings, check_positive
from .console import Console, StopOnInterrupt
from .data import CharDataset, Vocab, load_text
from .evaluate import evaluate, evaluation_sample, non_finite
from .resume import load_resumable, restore, run_checkpoint


class TrainingDiverged(RuntimeError):
    """The loss or a parameter became NaN or Inf. Training can't recover from that, so it stops
    at once, and saves nothing: the checkpoint keeps the last good state."""


def train(data=None, out=None, *, cell=None, embedding_size=None, hidden_size=None,
          num_layers=None, dropout=None, batch_size=None, seq_len=None, steps=10_000, time_budget=300.0,
          lr=None, lr_schedule=None, optim=None, weight_decay=None, clip=None, eval_every=None,
          seed=None, dtype=None, resume=None, verbose=True, keep_freed_memory=False, jit=True):
    """Train a CharRNN on a text file; return `(model, history)`.

    data:        path of a UTF-8 text file; None for the packaged tinyshakespeare
    out:         checkpoint path, written at every evaluation, at the end, and on Ctrl-C
    cell:        the recurrent cell, "rnn", "lstm" or "gru" (CharRNN)
    embedding_size: the size of the character embedding feeding the first layer; 0 for none
                 (the one-hot input: the first layer's weight_xh is the embedding)
    dropout:     the fraction of the embedding's and every layer's outputs zeroed at each step
                 (CharRNN); never while evaluating or sampling
    steps:       at most this many optimizer steps in this call
    time_budget: stop in time to finish within this many seconds (None: no limit)
    lr:          the peak learning rate
    lr_schedule: one of constant, linear, cosine, wsd: how the learning rate changes over the
                 run (the formulas are in optim.scheduled_lr)
    optim:       the optimizer: sgd, adagrad, adam or adamw
    weight_decay: the optimizer's weight decay, as PyTorch's: for adamw the decoupled shrinking
                 of every weight, p <- p (1 - lr * weight_decay), at each step; for the others
                 an L2 term weight_decay * p added to the gradient (default: 0.2 for adamw,
                 0 for the others)
    clip:        maximum gradient norm (0: no clipping)
    eval_every:  evaluate (and save) every this many steps, and always at the last one
    resume:      a checkpoint to continue from, exactly where it stopped
    keep_freed_memory: let glibc's malloc keep freed memory in the process for the next step
                 (allocator.keep_freed_memory: ~10 % faster steps); this changes the process's
                 malloc settings for the rest of its life, so it is off unless asked for
    jit:         run each step's forward and backward through `tinygrad_rnn.jit`: traced once
                 (per starting state: zeros, or carried), then replayed; the same losses bit
                 for bit, faster

    Settings left as None take the checkpoint's value when resuming, else TrainSettings'
    defaults. `history` is a list of {"step", "train_loss", "val_loss", "seconds"}, one per
    evaluation, in nats/char: train_loss averages the steps since the previous evaluation,
    val_loss covers the whole validation text, seconds counts the run's wall time (across
    resumes).

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
    """
    given = dict(cell=cell, embedding_size=embedding_size, hidden_size=hidden_size,
                 num_layers=num_layers, dropout=dropout, batch_size=batch_size,
                 seq_len=seq_len, lr=lr, lr_schedule=lr_schedule, optim=optim,
                 weight_decay=weight_decay, clip=clip, eval_every=eval_every, seed=seed,
                 dtype=dtype)
    check_positive("steps", steps, int)
    if time_budget is not None:
        check_positive("time_budget", time_budget, (int, float))
    if out is not None:
        _check_writable(out, data)
    saved, run = load_resumable(resume) if resume is not None else (None, RunState())
    settings = TrainSettings.resolve(given, saved and saved.training["settings"], resume)
    trainer = _Trainer(settings, data, out, saved, resume, use_jit=jit)
    if keep_freed_memory:
        allocator.keep_freed_memory()  # each step reuses the last one's memory (allocator.py)
    trainer.start(run, saved, resume)
    steps, time_budget = run.begin_schedule(steps, time_budget)
    trainer.console = Console(steps, time_budget, verbose)
    # Overflows are caught as NaN/Inf after each step, with a clearer message than numpy's.
    with StopOnInterrupt() as interrupt, np.errstate(all="ignore"):
        trainer.loop(steps, time_budget, interrupt)
        if not interrupt.requested:
            if run.loss_steps:  # steps taken since the last evaluation
                trainer.evaluate()
            run.horizon = None  # this call ran to its end, and so did its schedule
        trainer.save()  # after Ctrl-C: as it stands after the last whole step, not evaluated
    trainer.console.close()
    if interrupt.requested:
        raise KeyboardInterrupt(f"stopped at step {run.step}")
    return trainer.model, run.history


def train_step(model, optimizer, inputs, targets, state, clip, forward_backward=None):
    """One step of truncated BPTT on a chunk, from the carried `state` (None: zeros); returns
    (the loss, a float; the final state, detached). `forward_backward` is
    `forward_backward_of(model)` (the default), or that under `jit`."""
    optimizer.zero_grad()
    loss, state = (forward_backward or forward_backward_of(model))(inputs, targets, state)
    if clip:
        clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    return loss, state


def forward_backward_of(model):
    """The part of a step made of ops, which `jit` can trace (the optimizer stays outside): the
    loss, its backward, and the final state detached."""
    def step(inputs, targets, state):
        logits, state = model(inputs, state)
        loss = cross_entropy(logits, targets)
        loss.backward()
        return loss.item(), carry.detach(state)
    return step


class _Trainer:
    """One call of `train`: the text, the model, the optimizer, the random generator, the run
    state; a step, an evaluation and a save of them."""

    def __init__(self, settings, data, out, saved, source, use_jit):
        self.settings, self.data, self.out, self.use_jit = settings, data, out, use_jit
        text = load_text(data if data is not None or saved is None else saved.training["data"])
        self.digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if saved is not None and self.digest != saved.training["data_sha256"]:
            raise CheckpointError(f"{source}: was trained on other text than "
                                  f"{data or saved.training['data'] or 'the default corpus'}")
        vocab = Vocab(saved.vocab) if saved is not None else None
        self.dataset = CharDataset(text, vocab=vocab)
        self.batches = self.dataset.batches(settings.batch_size, settings.seq_len)
        _check_fits_in_memory(settings, len(self.dataset.vocab))
        self.last_saved = None  # the step of the last checkpoint this call wrote
        self.console = None
        self.steps_done, self.step_seconds, self.eval_seconds, self.speed = 0, 0.0, 0.0, 0.0

    def start(self, run, saved, source):
        """Build the model and the optimizer; from the checkpoint `saved`, if any, as it was."""
        settings = self.settings
        self.rng = np.random.default_rng(settings.seed)
        self.model = CharRNN.from_config(settings.model_config(len(self.dataset.vocab)),
                                         rng=self.rng)
        self.model.vocab = self.dataset.vocab
        self.optimizer = OPTIMIZERS[settings.optim](self.model.parameters(), lr=settings.lr,
                                                    weight_decay=settings.weight_decay)
        self.forward_backward = forward_backward_of(self.model)
        if self.use_jit:
            self.forward_backward = traced(self.forward_backward)
        self.run = run
        if saved is not None:
            restore(saved, run, source, self.model, self.optimizer, self.rng, settings)
            for group in self.optimizer.param_groups:  # as lr, the resumed run's own setting
                group["weight_decay"] = settings.weight_decay
            if not 0 <= run.chunk < len(self.batches):
                raise CheckpointError(f"{source}: its data position, chunk {run.chunk}, is not in "
                                      f"a pass of {len(self.batches)} chunks")
        self.seconds_before, self.started = run.seconds, time.perf_counter()

    def loop(self, steps, time_budget, interrupt):
        """Steps until `steps` are taken, the time is up or Ctrl-C; an evaluation and a save
        every `eval_every` steps."""
        while self.steps_done < steps and not interrupt.requested:
            elapsed = time.perf_counter() - self.started
            if time_budget is not None and self.steps_done and (
                    elapsed + self.step_seconds / self.steps_done + self.eval_seconds
                    > time_budget):
                break  # no time for another step and the final evaluation
            self.step()
            if self.run.step % self.settings.eval_every == 0:
                tick = time.perf_counter()
                self.evaluate()
                self.save()
                self.eval_seconds = time.perf_counter() - tick

    def step(self):
        """One optimizer step at the scheduled learning rate, on the next chunk of the pass."""
        run, settings = self.run, self.settings
        tick = time.perf_counter()
        if run.chunk == 0:
            run.state = None  # each pass over the text starts from a zero state
        progress = run.horizon.progress(run.step, self.seconds_before + tick - self.started)
        for group in self.optimizer.param_groups:
            group["lr"] = scheduled_lr(settings.lr_schedule, settings.lr, progress)
        inputs, targets = self.batches[run.chunk]
        loss, run.state = train_step(self.model, self.optimizer, inputs, targets, run.state,
                                     settings.clip, self.forward_backward)
        self.stop_if(non_finite(loss, self.model), run.step + 1)

        run.step += 1
        run.chunk += 1
        if run.chunk == len(self.batches):
            run.passes, run.chunk = run.passes + 1, 0
        run.loss_sum += loss
        run.loss_steps += 1
        run.seconds = self.seconds_before + time.perf_counter() - self.started
        self.steps_done += 1
        self.step_seconds += time.perf_counter() - tick
        self.speed = self.steps_done * inputs.size / self.step_seconds  # characters per second
        self.console.step(run, self.steps_done, self.speed, time.perf_counter() - self.started)

    def evaluate(self):
        """Score the validation text, log it with a sample, and start a new train-loss average."""
        run = self.run
        val_loss = evaluate(self.model, self.dataset)
        self.stop_if(None if math.isfinite(val_loss) else f"the validation loss is {val_loss}",
                     run.step)
        entry = {"step": run.step, "train_loss": run.train_loss(), "val_loss": val_loss,
                 "seconds": round(run.seconds, 3)}
        run.history.append(entry)
        run.loss_sum, run.loss_steps = 0.0, 0
        sample = evaluation_sample(self.model, self.settings.seed, run.step)
        self.console.evaluation(entry, self.speed, sample)

    def save(self):
        if self.out is not None:
            save(self.out, run_checkpoint(self.model, self.optimizer, self.rng, self.run,
                                          self.settings, self.data, self.digest))
            self.last_saved = self.run.step

    def stop_if(self, problem, step):
        """Raise TrainingDiverged if there is a `problem` (what is NaN or Inf) at `step`."""
        if problem is None:
            return
        self.console.close()
        if self.out is None:
            kept = ""
        elif self.last_saved is None:
            kept = f"; {self.out} is left as it was"
        else:
            kept = f"; {self.out} keeps step {self.last_saved}, the last good state"
        settings = self.settings
        clip = f"a lower --clip (now {settings.clip:g})" if settings.clip else "--clip 1"
        raise TrainingDiverged(f"training diverged at step {step}: {problem}{kept}. Try a lower "
                               f"--lr (now {settings.lr:g}) or {clip}")


def _check_writable(out, data):
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
    if data is not None and os.path.exists(out) and os.path.samefile(out, data):
        raise ValueError(f"--out {out} is the training text itself: saving would overwrite it")


def _check_fits_in_memory(settings, vocab_size):
    """Refuse a model too big for this machine before building it: --num-layers 100000 would
    otherwise allocate layer after layer until the system kills the process."""
    count = CharRNN.parameter_count(settings.model_config(vocab_size))
    need = 4 * count * np.dtype(settings.dtype).itemsize  # with gradients and 2 moments
    try:
        have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows): don't guess
        return
    if need > have:
        raise ValueError(f"a model of {count:,} parameters needs about {need / 2**30:,.0f} GiB to "
                         f"train, more than this machine's {have / 2**30:,.0f} GiB; use a smaller "
                         f"--hidden-size or --num-layers")
