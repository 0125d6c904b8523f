"""The command line: `python -m tinygrad_rnn COMMAND ...` (or `tinygrad-rnn COMMAND ...`).

One parser; each command is a pair of small functions in COMMANDS, one adding its arguments to
its subparser, one running it on the parsed arguments and returning the exit status.

Errors are one line, `tinygrad-rnn: error: ...`, with exit status 2 for a malformed command
line and 1 for input that can't be used (a text file, a checkpoint, a prime character) or a
run that diverged.
"""
import argparse
import json
import math
import os
import sys

PROG = "tinygrad-rnn"


def _error_line(message):
    """The one line of an error; a newline in it (from an argument or a path) is escaped."""
    return f"{PROG}: error: " + str(message).replace("\r", "\\r").replace("\n", "\\n") + "\n"


class _Parser(argparse.ArgumentParser):
    """argparse, but its errors are the one-line kind, exit status 2."""

    def error(self, message):
        self.exit(2, _error_line(message))


def _int_at_least(minimum):
    """An argparse type: an integer >= minimum, with a one-line error naming the bound."""
    bound = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {bound}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text!r}")
        return value

    return parse


positive_int, non_negative_int = _int_at_least(1), _int_at_least(0)


def number(minimum, strict):
    """An argparse type: a float checked against `minimum` (excluded when `strict`); nan and
    inf are refused."""
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not (value > minimum if strict else value >= minimum) or value == float("inf"):
            bound = ">" if strict else ">="
            raise argparse.ArgumentTypeError(f"must be a finite number {bound} {minimum:g}, "
                                             f"got {text!r}")
        return value
    return parse


def fraction(text):
    """An argparse type: a number in [0, 1)."""
    value = number(0, strict=False)(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1), got {text!r}")
    return value


# --- train ----------------------------------------------------------------------------------------

TRAIN_OPTIONS = ("cell", "embedding_size", "hidden_size", "num_layers", "dropout", "batch_size",
                 "seq_len", "steps", "time_budget", "lr", "lr_schedule", "optim", "weight_decay",
                 "clip", "eval_every", "seed", "dtype", "resume", "jit")


def _add_train(commands):
    from .charrnn.config import CELLS, DEFAULT_WEIGHT_DECAY, OPTIMIZERS, TrainSettings
    from .nn.charrnn import DTYPES
    from .optim import LR_SCHEDULES

    default = TrainSettings()
    t = commands.add_parser("train", help="train a model on a text file (default: tinyshakespeare)",
                            description="Train a CharRNN. Settings not given take the resumed "
                                        "checkpoint's value, else the default shown. The process "
                                        "keeps the memory it frees for the next step (glibc's "
                                        "malloc; about 10 % faster).")
    t.add_argument("--data", metavar="PATH", help="UTF-8 text file (default: the packaged "
                                                  "tinyshakespeare, or the resumed run's)")
    t.add_argument("--out", metavar="PATH", default="charrnn.npz",
                   help="checkpoint to write (default: %(default)s)")
    t.add_argument("--resume", metavar="PATH", help="continue the run saved in this checkpoint (a "
                   "run stopped by Ctrl-C or a crash goes on with its lr schedule to its end)")
    t.add_argument("--cell", choices=list(CELLS), help=f"the recurrent cell (default: "
                                                        f"{default.cell})")
    t.add_argument("--embedding-size", type=non_negative_int, metavar="N",
                   help=f"size of the character embedding, 0 for none: the one-hot input "
                        f"(default: {default.embedding_size})")
    for name, meaning in [("hidden-size", "hidden units per layer"),
                          ("num-layers", "stacked recurrent layers"),
                          ("batch-size", "text streams read in parallel"),
                          ("seq-len", "characters per stream per step (BPTT length)")]:
        t.add_argument(f"--{name}", type=positive_int, metavar="N",
                       help=f"{meaning} (default: {getattr(default, name.replace('-', '_'))})")
    t.add_argument("--dropout", type=fraction, metavar="P",
                   help=f"fraction of the embedding's and each layer's outputs zeroed at each "
                        f"training step (default: {default.dropout:g})")
    t.add_argument("--steps", type=positive_int, default=10_000, metavar="N",
                   help="most optimizer steps to take (default: %(default)s)")
    t.add_argument("--time-budget", type=number(0, strict=True), default=300.0,
                   metavar="SECONDS", help="stop in time to finish within this (default: "
                                           "%(default)g)")
    t.add_argument("--lr", type=number(0, strict=True), help=f"peak learning rate (default: "
                                                              f"{default.lr:g})")
    t.add_argument("--lr-schedule", choices=list(LR_SCHEDULES),
                   help=f"how the learning rate changes over the run: wsd holds it, then decays "
                        f"it linearly to 0 over the last 30 %%; linear and cosine decay it to 0 "
                        f"over the whole run (default: {default.lr_schedule})")
    t.add_argument("--optim", choices=list(OPTIMIZERS), help=f"(default: {default.optim})")
    t.add_argument("--weight-decay", type=number(0, strict=False), metavar="W",
                   help=f"adamw: each step shrinks the weights by lr * W; the other optimizers "
                        f"add W * weight to the gradient (default: "
                        f"{DEFAULT_WEIGHT_DECAY[default.optim]:g} for {default.optim}, 0 for the "
                        f"others)")
    t.add_argument("--clip", type=number(0, strict=False), metavar="NORM",
                   help=f"max gradient norm, 0 for none (default: {default.clip:g})")
    t.add_argument("--eval-every", type=positive_int, metavar="STEPS",
                   help=f"evaluate and save every this many steps (default: {default.eval_every})")
    t.add_argument("--seed", type=non_negative_int, metavar="N",
                   help=f"seeds the initial weights and the samples (default: {default.seed})")
    t.add_argument("--dtype", choices=list(DTYPES), help=f"(default: {default.dtype})")
    t.add_argument("--no-jit", dest="jit", action="store_false",
                   help="run every step eagerly instead of replaying a traced one (the same "
                        "losses, slower)")


def _run_train(args):
    from .charrnn.train import train

    options = {name: getattr(args, name) for name in TRAIN_OPTIONS}
    try:
        _, history = train(args.data, args.out, keep_freed_memory=True, **options)
    except KeyboardInterrupt as stop:
        saved = f"{stop}; saved {args.out}" if stop.args else f"{args.out} is left as last saved"
        print(f"\n{PROG}: interrupted: {saved}", file=sys.stderr)
        return 130
    last = history[-1]
    print(f"val loss {last['val_loss']:.3f} nats/char ({last['val_loss'] / math.log(2):.3f} "
          f"bits) after {last['step']} steps, {last['seconds']:.0f}s; saved {args.out}\n"
          f"sample it:  python -m tinygrad_rnn sample {args.out}")
    return 0


# --- sample ---------------------------------------------------------------------------------------

def _add_sample(commands):
    s = commands.add_parser("sample", help="generate text from a checkpoint",
                            description="Stream characters sampled from a trained model.")
    s.add_argument("checkpoint", metavar="CHECKPOINT")
    s.add_argument("--prime", metavar="TEXT", help="text to start from (default: a newline)")
    s.add_argument("--length", type=non_negative_int, default=500, metavar="N",
                   help="characters to generate (default: %(default)s)")
    s.add_argument("--temperature", type=number(0, strict=False), default=1.0, metavar="T",
                   help="below 1: safer, above 1: wilder, 0: always the likeliest "
                        "(default: %(default)g)")
    s.add_argument("--top-k", type=positive_int, metavar="K",
                   help="draw only among the K likeliest characters")
    s.add_argument("--seed", type=non_negative_int, metavar="N", help="makes the sample repeatable")


def _run_sample(args):
    from .charrnn.checkpoint import load_model
    from .nn.sampling import default_prime, sample_chars

    model = load_model(args.checkpoint)
    prime = default_prime(model.vocab) if args.prime is None else args.prime
    chars = sample_chars(model, prime, args.length, args.temperature, args.top_k, args.seed)
    first = next(chars, "")  # an unknown prime character fails here, before anything is printed
    sys.stdout.write(prime + first)
    for char in chars:
        sys.stdout.write(char)
        sys.stdout.flush()
    sys.stdout.write("\n")
    return 0


# --- audit ----------------------------------------------------------------------------------------

def _add_audit(commands):
    description = "The audit: each reference document's hand-written gradient, checked against " \
                  "autograd."
    a = commands.add_parser("audit", help="check the reference documents' gradients against "
                                          "autograd", description=description)
    a.add_argument("--json", action="store_true", help="print the result as JSON")
    a.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed of the random problems (default: %(default)s)")


def _run_audit(args):
    from .audit import audit_documents, format_report

    result = audit_documents(args.seed)
    print(json.dumps(result, indent=2) if args.json else format_report(result))
    return 0


# --- plot -----------------------------------------------------------------------------------------

PLOT_HELP = "draw a checkpoint's loss curve and gradient norms through time (PNG; needs matplotlib)"


def _add_plot(commands):
    from .plot import WHAT

    p = commands.add_parser("plot", help=PLOT_HELP, description=PLOT_HELP)
    p.add_argument("checkpoint", metavar="CHECKPOINT")
    p.add_argument("--what", choices=WHAT, default="both",
                   help="which plot to draw (default: %(default)s)")
    p.add_argument("--out", metavar="PREFIX",
                   help="write PREFIX_loss.png and PREFIX_gradients.png (default: the "
                        "checkpoint's path without its extension)")
    p.add_argument("--data", metavar="PATH",
                   help="text to take the batch from (default: the text the model was "
                        "trained on)")
    p.add_argument("--batch-size", type=positive_int,
                   help="rows of the batch (default: the training run's)")
    p.add_argument("--seq-len", type=positive_int,
                   help="time steps of the batch (default: the training run's)")


def _run_plot(args):
    from .plot import plot_checkpoint

    for path in plot_checkpoint(args.checkpoint, args.what, args.out, args.data,
                                args.batch_size, args.seq_len):
        print(f"wrote {path}")
    return 0


# --- export, import -------------------------------------------------------------------------------

def _add_export(commands):
    e = commands.add_parser("export", help="write a checkpoint's model as safetensors for PyTorch",
                            description="Write the model of CHECKPOINT in PyTorch's names and "
                                        "shapes (Embedding -> RNN | LSTM | GRU -> Linear), its "
                                        "characters and architecture in the file's metadata. "
                                        "Needs the safetensors extra.")
    e.add_argument("checkpoint", metavar="CHECKPOINT")
    e.add_argument("out", metavar="OUT.safetensors")


def _run_export(args):
    from .charrnn.checkpoint import load_model
    from .export import save_safetensors

    save_safetensors(load_model(args.checkpoint), args.out)
    print(f"wrote {args.out}")
    return 0


def _add_import(commands):
    i = commands.add_parser("import", help="turn a safetensors file in PyTorch's names into a "
                                           "checkpoint to sample", description="Read a file "
                            "written by export (or by PyTorch with the same metadata) and write "
                            "its model as a checkpoint that sample reads. Needs the safetensors "
                            "extra.")
    i.add_argument("source", metavar="IN.safetensors")
    i.add_argument("out", metavar="OUT.npz")


def _run_import(args):
    from .charrnn import checkpoint
    from .export import load_safetensors

    model, chars = load_safetensors(args.source)
    checkpoint.save(args.out, checkpoint.Checkpoint(model.config(), chars, model.state_dict()))
    print(f"wrote {args.out}")
    return 0


# name -> (add its subparser to the subparsers action, run it on the parsed arguments)
COMMANDS = {"train": (_add_train, _run_train), "sample": (_add_sample, _run_sample),
            "audit": (_add_audit, _run_audit), "plot": (_add_plot, _run_plot),
            "export": (_add_export, _run_export), "import": (_add_import, _run_import)}


def parser():
    """The whole command line's parser."""
    top = _Parser(prog=PROG, description="A character-level RNN on a tiny autograd engine.")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                  parser_class=_Parser)
    for add, _ in COMMANDS.values():
        add(commands)
    return top


def _expected_errors():
    """The errors that mean unusable input, reported in one line with exit status 1."""
    from .charrnn.checkpoint import CheckpointError
    from .charrnn.train import TrainingDiverged
    from .plot import PlotError

    return CheckpointError, PlotError, TrainingDiverged, ValueError, OSError  # DataError: ValueError


def main(argv=None):
    """Run the command line `argv` (default: sys.argv[1:]); return the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = parser().parse_args(argv)
    except SystemExit as stop:  # argparse exits on --help and on usage errors
        return stop.code
    try:
        return COMMANDS[args.command][1](args)
    except BrokenPipeError:  # the reader went away (`sample ... | head`): stop quietly, as cat does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit's flush
        return 141
    except _expected_errors() as err:
        sys.stderr.write(_error_line(err))
        return 1
    except MemoryError as err:
        sys.stderr.write(_error_line(f"not enough memory ({err or 'allocation failed'})"))
        return 1
    except KeyboardInterrupt:
        return 130
