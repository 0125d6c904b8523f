"""Validation loss of one training recipe in tinygrad_rnn and in PyTorch, side by side.

    python benchmarks/quality.py                                   # the issue's recipe, RNN cell
    python benchmarks/quality.py --cell lstm --embedding-size 64 128
    python benchmarks/quality.py --cell rnn lstm gru --batch-size 128 --steps 600 \\
        --lr 6e-3 --lr-schedule wsd --framework tinygrad_rnn        # the 5-minute recipe, shortened
    python benchmarks/quality.py --cell lstm --same-init            # both from PyTorch's weights

Both frameworks run the same loop, one after the other, on one core each (OPENBLAS_NUM_THREADS=1,
torch.set_num_threads(1)): the text's training part in `batch_size` streams of `seq_len`
characters, truncated BPTT with the state carried (detached) from chunk to chunk and zeroed at the
start of each pass, Adam, the gradient norm clipped. PyTorch's model is
Embedding(V, E) -> nn.RNN | nn.LSTM | nn.GRU(E, H, batch_first=True) -> Linear(H, V), with
PyTorch's own initialisation. The validation loss (nats/char) of both is computed by
tinygrad_rnn's `evaluate`, over the last 10 % of the text.
"""
import argparse
import contextlib
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy loads its BLAS

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from tinygrad_rnn import Tensor  # noqa: E402
from tinygrad_rnn.charrnn import carry  # noqa: E402
from tinygrad_rnn.charrnn.data import CharDataset, load_text  # noqa: E402
from tinygrad_rnn.charrnn.evaluate import evaluate  # noqa: E402
from tinygrad_rnn.nn import CharRNN, clip_grad_norm_, cross_entropy  # noqa: E402
from tinygrad_rnn.optim import Adam, scheduled_lr  # noqa: E402


def fit(step, batches, steps, lr_at):
    """`steps` steps of `step(inputs, targets, state, lr) -> (loss, state)`; returns the mean
    training loss of the last 100 steps and the seconds per step."""
    state, losses, start = None, [], time.perf_counter()
    for k in range(steps):
        chunk = k % len(batches)
        if chunk == 0:
            state = None  # each pass starts from zeros
        loss, state = step(*batches[chunk], state, lr_at(k / steps))
        losses.append(loss)
    return float(np.mean(losses[-100:])), (time.perf_counter() - start) / steps


def ours(dataset, args, cell, E):
    if args.same_init:  # PyTorch's initial weights for its seed, brought over by the export
        from tinygrad_rnn.export import from_torch

        weights = torch_model(len(dataset.vocab), args, cell, E).state_dict()
        model = from_torch({k: v.detach().numpy() for k, v in weights.items()}, dataset.vocab)
    else:
        model = CharRNN(len(dataset.vocab), args.hidden_size, args.num_layers, cell=cell,
                        embedding_size=E, rng=np.random.default_rng(args.seed))
    model.vocab = dataset.vocab
    optimizer = Adam(model.parameters(), lr=args.lr)

    def step(inputs, targets, state, lr):
        optimizer.param_groups[0]["lr"] = lr
        logits, state = model(inputs, state)
        loss = cross_entropy(logits, targets)
        optimizer.zero_grad()
        loss.backward()
        clip_grad_norm_(model.parameters(), args.clip)
        optimizer.step()
        return loss.item(), carry.detach(state)

    return step, model


def torch_model(V, args, cell, E):
    """PyTorch's char model, initialised by PyTorch from `args.seed`."""
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    stack = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(V, E)
            self.rnn = stack(E, args.hidden_size, args.num_layers, batch_first=True)
            self.head = torch.nn.Linear(args.hidden_size, V)

        def forward(self, ids, state=None):
            out, state = self.rnn(self.embedding(ids), state)
            return self.head(out), state

    return Model()


def theirs(dataset, args, cell, E):
    import torch

    V = len(dataset.vocab)
    model = torch_model(V, args, cell, E)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

    def step(inputs, targets, state, lr):
        optimizer.param_groups[0]["lr"] = lr
        logits, state = model(torch.as_tensor(inputs), state)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V),
                                                 torch.as_tensor(targets).reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        optimizer.step()
        return loss.item(), carry.detach(state)

    class Evaluated:
        """The torch model as `evaluate` calls a model: numpy ids in, Tensor logits out."""

        vocab = dataset.vocab

        def __call__(self, ids, state=None):
            with torch.no_grad():
                logits, state = model(torch.as_tensor(ids), state)
            return Tensor(logits.numpy()), state

        @contextlib.contextmanager
        def evaluating(self):  # torch's eval mode inside the block, as CharRNN.evaluating
            was = model.training
            model.eval()
            try:
                yield self
            finally:
                model.train(was)

    return step, Evaluated()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell", nargs="+", default=["rnn"], choices=["rnn", "lstm", "gru"])
    parser.add_argument("--embedding-size", nargs="+", default=["128"],
                        help="one or more sizes; 'none' for the one-hot input (tinygrad_rnn only)")
    parser.add_argument("--framework", choices=["both", "tinygrad_rnn", "torch"], default="both")
    parser.add_argument("--hidden-size", type=int, default=256)
    parser.add_argument("--num-layers", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--lr-schedule", default="constant")
    parser.add_argument("--clip", type=float, default=5.0)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--same-init", action="store_true",
                        help="tinygrad_rnn starts from PyTorch's initial weights for the seed "
                             "(through tinygrad_rnn.export); with the GRU the two then differ "
                             "only in their arithmetic, while the RNN and LSTM keep one bias "
                             "for PyTorch's two (b_ih + b_hh), which Adam moves at half the "
                             "rate of PyTorch's pair; needs PyTorch")
    args = parser.parse_args(argv)

    dataset = CharDataset(load_text())
    batches = dataset.batches(args.batch_size, args.seq_len)
    frameworks = {"both": ["tinygrad_rnn", "torch"]}.get(args.framework, [args.framework])
    print(f"H={args.hidden_size}, {args.num_layers} layer(s), B={args.batch_size}, "
          f"T={args.seq_len}, Adam {args.lr:g} {args.lr_schedule}, clip {args.clip:g}, "
          f"{args.steps} steps, seed {args.seed}")
    print("| framework | cell | E | train loss (last 100) | validation loss | s/step |")
    print("|---|---|---|---|---|---|")
    for cell in args.cell:
        for size in args.embedding_size:
            E = None if size.lower() == "none" else int(size)
            for name in frameworks:
                if E is None and (name == "torch" or args.same_init):
                    continue  # PyTorch's model always has an embedding
                build = ours if name == "tinygrad_rnn" else theirs
                step, model = build(dataset, args, cell, E)
                lr_at = lambda done: scheduled_lr(args.lr_schedule, args.lr, done)  # noqa: E731
                train_loss, seconds = fit(step, batches, args.steps, lr_at)
                val = evaluate(model, dataset)
                print(f"| {name} | {cell} | {E} | {train_loss:.3f} | {val:.3f} | {seconds:.4f} |",
                      flush=True)


if __name__ == "__main__":
    main()
