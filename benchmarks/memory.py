"""Memory over a long run: does training keep anything alive from one step to the next?

    python benchmarks/memory.py               # 5,000 steps of a small model (a few minutes)
    python benchmarks/memory.py --steps 1000

Trains a small CharRNN on tinyshakespeare the way `train` does (a step; every --eval-every steps
an evaluation, a sample and a checkpoint save) and compares memory after the first evaluation,
when everything has been allocated once, with memory later: what tracemalloc counts (numpy
reports its buffers to it; current and peak) and the process's peak resident size (ru_maxrss).
A step's working set is megabytes; a leak of even a step's last node (a loss kept in a list)
adds kilobytes per step, which 5,000 steps make plain. Flat numbers: every step frees its own.
"""
import argparse
import gc
import os
import sys
import tempfile
import time
import tracemalloc

# One BLAS thread, set before numpy loads: on a busy 2-core machine threaded BLAS can make a small
# model's steps many times slower, and the memory figures don't depend on it.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tinygrad_rnn.charrnn import checkpoint as ckpt  # noqa: E402
from tinygrad_rnn import optim  # noqa: E402
from tinygrad_rnn.charrnn.data import CharDataset, load_text  # noqa: E402
from tinygrad_rnn.nn import CharRNN  # noqa: E402
from tinygrad_rnn.charrnn.evaluate import evaluate  # noqa: E402
from tinygrad_rnn import jit  # noqa: E402
from tinygrad_rnn.charrnn.train import forward_backward_of, train_step  # noqa: E402
from tinygrad_rnn.nn.sampling import generate  # noqa: E402

try:
    import resource
except ImportError:  # Windows
    resource = None

MB = 2**20


def max_rss():
    """The process's peak resident size in bytes (Linux reports KiB, macOS bytes), or None."""
    if resource is None:
        return None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--hidden-size", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--no-jit", dest="jit", action="store_false",
                    help="eager steps instead of train's default, a jitted forward and backward")
    args = ap.parse_args(argv)

    dataset = CharDataset(load_text())
    batches = dataset.batches(args.batch_size, args.seq_len)
    model = CharRNN(len(dataset.vocab), args.hidden_size, rng=np.random.default_rng(0))
    model.vocab = dataset.vocab
    optimizer = optim.Adam(model.parameters(), lr=2e-3)
    out = os.path.join(tempfile.mkdtemp(), "memory.npz")
    forward_backward = forward_backward_of(model)
    if args.jit:
        forward_backward = jit(forward_backward)

    def evaluate_and_save():
        evaluate(model, dataset)
        generate(model, "\n", 200, temperature=0.8, seed=0)
        ckpt.save(out, ckpt.Checkpoint(model.config(), model.vocab.chars,
                                       model.state_dict(), optimizer.state_dict()))

    print(f"CharRNN H={args.hidden_size}, batch {args.batch_size} x {args.seq_len}, Adam, "
          f"{'jitted' if args.jit else 'eager'} steps; "
          f"{args.steps} steps, evaluation + sample + save every {args.eval_every}")
    print(f"{'step':>6} {'traced MB':>10} {'traced peak MB':>15} {'maxrss MB':>10} {'s':>6}")
    h, start = None, time.perf_counter()
    for step in range(1, args.steps + 1):
        chunk = (step - 1) % len(batches)
        inputs, targets = batches[chunk]
        _, h = train_step(model, optimizer, inputs, targets, None if chunk == 0 else h, 5.0,
                          forward_backward)
        if step % args.eval_every == 0:
            evaluate_and_save()
        if step == args.eval_every:  # the baseline: everything has been allocated once
            gc.collect()
            tracemalloc.start()
            base_traced, base_rss = tracemalloc.get_traced_memory()[0], max_rss()
        elif step % args.eval_every == 0 or step == args.steps:
            gc.collect()
            traced, peak = (m - base_traced for m in tracemalloc.get_traced_memory())
            rss = (max_rss() - base_rss) / MB if resource else float("nan")
            print(f"{step:>6} {traced / MB:>+10.3f} {peak / MB:>+15.3f} {rss:>+10.1f} "
                  f"{time.perf_counter() - start:>6.0f}")
    print(f"growth after step {args.eval_every}, over {args.steps - args.eval_every} steps: "
          f"traced {traced / 1e3:+.1f} kB (peak {peak / MB:+.2f} MB: one step's working set), "
          f"maxrss {rss:+.1f} MB")


if __name__ == "__main__":
    main()
