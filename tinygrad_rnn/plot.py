"""`python -m tinygrad_rnn plot CHECKPOINT`: a trained model's curves, as PNG files.

Two pictures. The loss curve is the training run's history (train and validation loss at each
evaluation) against the uniform guess ln V, the loss of a model that knows nothing. The gradient
curve is ||dL/dh_t|| for each step t of one training batch (see gradflow.py), twice: for the
training loss, and for the loss at the last step alone, whose gradient has to travel back through
time to reach the earlier states; on a log scale, the second curve's slope is the rate at which
a vanilla RNN forgets.

matplotlib is an optional extra (`pip install "tinygrad-rnn[plot]"`), imported only when a
figure is drawn. Figures are made with `matplotlib.figure.Figure`, not pyplot, so drawing to a
file neither opens a window nor changes pyplot's global state in the caller's session.
"""
import math
import os

WHAT = ("loss", "gradients", "both")


class PlotError(Exception):
    """matplotlib is missing, or the checkpoint holds nothing to plot."""


def _figure():
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotError('plotting needs matplotlib: pip install "tinygrad-rnn[plot]" '
                        "(or pip install matplotlib)") from None
    fig = Figure(figsize=(7, 4.2), layout="constrained")
    return fig, fig.subplots()


def plot_loss(history, path, vocab_size=None):
    """Draw train and validation loss (nats/char) against the step; write the PNG at `path`.

    `history` is a list of {"step", "train_loss", "val_loss"} (as `tinygrad_rnn.train` returns it and
    checkpoints keep it). With `vocab_size`, a dashed line marks ln V, the uniform guess.
    """
    if not history:
        raise PlotError("the history is empty: no evaluation was recorded, nothing to plot")
    fig, ax = _figure()
    steps = [entry["step"] for entry in history]
    ax.plot(steps, [e["train_loss"] for e in history], "o-",
            label="train (mean since last evaluation)")
    ax.plot(steps, [e["val_loss"] for e in history], "s-", label="validation")
    if vocab_size:
        ax.axhline(math.log(vocab_size), color="gray", linestyle="--",
                   label=f"uniform guess, ln {vocab_size} = {math.log(vocab_size):.2f}")
    ax.set(xlabel="optimizer step", ylabel="loss (nats per character)", title="Loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.savefig(path, dpi=120)
    return path


def plot_grad_norms(curves, path, title="Gradient norm through time"):
    """Draw each curve {label: ||dL/dh_t|| for t = 0..T-1} on a log scale; write the PNG."""
    fig, ax = _figure()
    for label, norms in curves.items():
        ax.plot(range(len(norms)), norms, ".-", label=label)
    ax.set_yscale("log", nonpositive="mask")  # a gradient of exactly 0 has no place on a log axis
    ax.set(xlabel="time step t", ylabel="||dL/dh_t||", title=title)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.savefig(path, dpi=120)
    return path


def grad_norm_curves(model, ids, targets):
    """The two curves of the gradient plot, for a CharRNN and one batch (ids, targets)."""
    from .gradflow import hidden_grad_norms

    return {"loss over all steps (the training loss)": hidden_grad_norms(model, ids, targets),
            "loss at the last step only": hidden_grad_norms(model, ids, targets, loss_at=-1)}


def plot_checkpoint(path, what="both", prefix=None, data=None, batch_size=None, seq_len=None):
    """Draw the plots of the checkpoint at `path` (`what`: loss, gradients or both) into
    PREFIX_loss.png and PREFIX_gradients.png (PREFIX: the path without its extension); yield
    each file's path once written. The gradient batch is the first of `data` (default: the
    text the model was trained on), `batch_size` x `seq_len` (default: the run's)."""
    from .charrnn.checkpoint import load, model_from
    from .charrnn.data import CharDataset, load_text

    saved = load(path)
    model = model_from(saved, path)
    prefix = prefix or os.path.splitext(path)[0]
    if what in ("loss", "both"):
        yield plot_loss(saved.training.get("history"), f"{prefix}_loss.png", model.vocab_size)
    if what in ("gradients", "both"):
        settings = saved.training.get("settings", {})
        batch_size = batch_size or settings.get("batch_size", 32)
        seq_len = seq_len or settings.get("seq_len", 64)
        text = load_text(data if data is not None else saved.training.get("data"))
        ids, targets = CharDataset(text, vocab=model.vocab).batches(batch_size, seq_len)[0]
        yield plot_grad_norms(grad_norm_curves(model, ids, targets), f"{prefix}_gradients.png",
                              title=f"Gradient norm through time (batch {batch_size} x {seq_len})")
