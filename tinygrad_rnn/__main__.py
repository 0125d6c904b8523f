"""The command line: `python -m tinygrad_rnn {train,sample,audit} ...` (or `tinygrad-rnn ...`).

Errors are one line, `tinygrad-rnn: error: ...`, with exit status 2 for a malformed command
line and 1 for input that can't be used (a text file, a checkpoint, a prime character) or a
run that diverged.
"""
import argparse
import math
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


_positive_int, _non_negative_int = _int_at_least(1), _int_at_least(0)


def _number(minimum, strict):
    """A float checked against `minimum` (excluded when `strict`); nan and inf are refused."""
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


def _parser():
    from .checkpoint import DTYPES
    from .optim import LR_SCHEDULES
    from .training import DEFAULTS, OPTIMIZERS

    parser = _Parser(prog=PROG, description="A character-level RNN on a tiny autograd engine.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     parser_class=_Parser)

    t = commands.add_parser("train", help="train a model on a text file (default: tinyshakespeare)",
                            description="Train a CharRNN. Settings not given take the resumed "
                                        "checkpoint's value, else the default shown.")
    t.add_argument("--data", metavar="PATH", help="UTF-8 text file (default: the packaged "
                                                  "tinyshakespeare, or the resumed run's)")
    t.add_argument("--out", metavar="PATH", default="charrnn.npz",
                   help="checkpoint to write (default: %(default)s)")
    t.add_argument("--resume", metavar="PATH", help="continue the run saved in this checkpoint (a "
                   "run stopped by Ctrl-C or a crash goes on with its lr schedule to its end)")
    for name, meaning in [("hidden-size", "hidden units per layer"),
                          ("num-layers", "stacked RNN layers"),
                          ("batch-size", "text streams read in parallel"),
                          ("seq-len", "characters per stream per step (BPTT length)")]:
        t.add_argument(f"--{name}", type=_positive_int, metavar="N",
                       help=f"{meaning} (default: {DEFAULTS[name.replace('-', '_')]})")
    t.add_argument("--steps", type=_positive_int, default=10_000, metavar="N",
                   help="most optimizer steps to take (default: %(default)s)")
    t.add_argument("--time-budget", type=_number(0, strict=True), default=300.0,
                   metavar="SECONDS", help="stop in time to finish within this (default: "
                                           "%(default)g)")
    t.add_argument("--lr", type=_number(0, strict=True), help=f"peak learning rate (default: "
                                                               f"{DEFAULTS['lr']:g})")
    t.add_argument("--lr-schedule", choices=list(LR_SCHEDULES),
                   help=f"how the learning rate changes over the run: wsd holds it, then decays "
                        f"it linearly to 0 over the last 30 %%; linear and cosine decay it to 0 "
                        f"over the whole run (default: {DEFAULTS['lr_schedule']})")
    t.add_argument("--optim", choices=list(OPTIMIZERS), help=f"(default: {DEFAULTS['optim']})")
    t.add_argument("--clip", type=_number(0, strict=False), metavar="NORM",
                   help=f"max gradient norm, 0 for none (default: {DEFAULTS['clip']:g})")
    t.add_argument("--eval-every", type=_positive_int, metavar="STEPS",
                   help=f"evaluate and save every this many steps (default: "
                        f"{DEFAULTS['eval_every']})")
    t.add_argument("--seed", type=_non_negative_int, metavar="N",
                   help=f"seeds the initial weights and the samples (default: {DEFAULTS['seed']})")
    t.add_argument("--dtype", choices=list(DTYPES),
                   help=f"(default: {DEFAULTS['dtype']})")

    s = commands.add_parser("sample", help="generate text from a checkpoint",
                            description="Stream characters sampled from a trained model.")
    s.add_argument("checkpoint", metavar="CHECKPOINT")
    s.add_argument("--prime", metavar="TEXT", help="text to start from (default: a newline)")
    s.add_argument("--length", type=_non_negative_int, default=500, metavar="N",
                   help="characters to generate (default: %(default)s)")
    s.add_argument("--temperature", type=_number(0, strict=False), default=1.0, metavar="T",
                   help="below 1: safer, above 1: wilder, 0: always the likeliest "
                        "(default: %(default)g)")
    s.add_argument("--top-k", type=_positive_int, metavar="K",
                   help="draw only among the K likeliest characters")
    s.add_argument("--seed", type=_non_negative_int, metavar="N",
                   help="makes the sample repeatable")

    commands.add_parser("audit", add_help=False,
                        help="check the reference documents' gradients against autograd")

    from . import plot

    plot.add_arguments(commands.add_parser("plot", help=plot.HELP, description=plot.HELP))
    return parser


def main(argv=None):
    """Run the command line `argv` (default: sys.argv[1:]); return the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["audit"]:
        from .audit import main as audit_main  # its own options, parsed by audit itself
        return audit_main(argv[1:])
    try:
        args = _parser().parse_args(argv)
    except SystemExit as stop:  # argparse exits on --help and on usage errors
        return stop.code
    from .checkpoint import CheckpointError
    from .training import TrainingDiverged

    try:
        if args.command == "train":
            return _train(args)
        if args.command == "plot":
            from .plot import run

            return run(args)
        return _sample(args)
    except (CheckpointError, ValueError, OSError, TrainingDiverged) as err:  # DataError: ValueError
        sys.stderr.write(_error_line(err))
        return 1
    except MemoryError as err:
        sys.stderr.write(_error_line(f"not enough memory ({err or 'allocation failed'})"))
        return 1
    except KeyboardInterrupt:
        return 130


def _train(args):
    from .training import train

    options = {name: getattr(args, name) for name in
               ("hidden_size", "num_layers", "batch_size", "seq_len", "steps", "time_budget",
                "lr", "lr_schedule", "optim", "clip", "eval_every", "seed", "dtype", "resume")}
    try:
        _, history = train(args.data, args.out, **options)
    except KeyboardInterrupt as stop:
        saved = f"{stop}; saved {args.out}" if stop.args else f"{args.out} is left as last saved"
        print(f"\n{PROG}: interrupted: {saved}", file=sys.stderr)
        return 130
    last = history[-1]
    print(f"val loss {last['val_loss']:.3f} nats/char ({last['val_loss'] / math.log(2):.3f} "
          f"bits) after {last['step']} steps, {last['seconds']:.0f}s; saved {args.out}\n"
          f"sample it:  python -m tinygrad_rnn sample {args.out}")
    return 0


def _sample(args):
    from .training import default_prime, load_model, sample_chars

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


if __name__ == "__main__":
    sys.exit(main())
