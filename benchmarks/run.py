"""Time one training step of the same char-RNN many ways, side by side, and print ratios.

    python benchmarks/run.py            # every config, float32 and float64 (a few minutes)
    python benchmarks/run.py --quick    # fewer steps (under a minute)

Contenders, each one SGD training step on the same batch (V=65):
  handwritten  a careful numpy BPTT (benchmarks/handwritten.py): the 1.0x reference
  gemm_floor   only the matrix products a step needs: no numpy implementation beats it
  model        tinygrad_rnn's CharRNN + cross_entropy + backward() + optim.SGD
  model_jit    the same with forward and backward under `tinygrad_rnn.jit` (traced once, replayed)
  engine       a user's own RNN in plain Tensor ops, step by step: embedding rows by indexing,
               tanh, @, log_softmax and indexing at every time step
  engine_jit   the same under `jit`
  torch_eager  the same as `engine` in PyTorch ops        } only if torch is installed
  torch_rnn    torch.nn.RNN, PyTorch's fused loop          } (benchmarks/torch_contenders.py)

Steps are interleaved (A B C D A B C D ...) so that drift of a shared machine hits all alike, and
the median of many steps after warm-up is reported. Peak memory is measured separately with
tracemalloc (numpy reports its buffers to it). A second table times CharRNN with an LSTM and a GRU
cell, eager and jitted (`--no-cells` skips it).
"""
import argparse
import gc
import os
import sys

# BLAS threads must be fixed before numpy loads.
_threads = next((a.split("=")[1] for a in sys.argv if a.startswith("--threads=")), "1")
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = _threads

import platform  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import handwritten  # noqa: E402
import torch_contenders  # noqa: E402
from tinygrad_rnn import Tensor, jit, optim  # noqa: E402
from tinygrad_rnn.allocator import keep_freed_memory  # noqa: E402
from tinygrad_rnn.nn import CharRNN, clip_grad_value_  # noqa: E402
from tinygrad_rnn.nn.functional import cross_entropy  # noqa: E402
from tinygrad_rnn.reference import min_char_rnn  # noqa: E402

V = 65
CONFIGS = {"S": (1, 25, 100), "M": (32, 64, 256), "L": (64, 128, 512)}  # B, T, H
LR = 0.01


def model_params_from(p, model):
    """Load the baseline's weights into CharRNN so that both train the very same model."""
    state = {"rnn.layers.0.weight_xh": p["Wxh"], "rnn.layers.0.weight_hh": p["Whh"],
             "rnn.layers.0.bias": p["bh"], "head.weight": p["Why"], "head.bias": p["by"]}
    model.load_state_dict({k: v.copy() for k, v in state.items()})


def make_contenders(B, T, H, dtype, threads=1, lr=LR):
    """Every contender as a function taking one training step; each tinygrad_rnn one has
    `.grads()`, its last step's gradients in the baseline's names (for the test that checks all
    compute the same), and the hand-written one `.grads()` too."""
    rng = np.random.default_rng(1)
    ids = rng.integers(0, V, (B, T))
    targets = rng.integers(0, V, (B, T))
    h0 = np.zeros((B, H), dtype=dtype)

    hand = handwritten.init_params(V, H, dtype)
    hand_grads = {}

    def run_handwritten():
        _, grads, _ = handwritten.loss_and_grads(hand, ids, targets, h0)
        hand_grads.update(grads)
        handwritten.sgd_step(hand, grads, lr)
    run_handwritten.grads = lambda: hand_grads

    floor = handwritten.init_params(V, H, dtype)

    def run_floor():
        handwritten.gemm_floor_step(floor, B, T)

    contenders = {"handwritten": run_handwritten, "gemm_floor": run_floor}
    for name, compiled in (("model", False), ("model_jit", True)):
        contenders[name] = _model_contender(B, T, H, dtype, ids, targets, lr, compiled)
    for name, compiled in (("engine", False), ("engine_jit", True)):
        contenders[name] = _engine_contender(B, T, H, dtype, ids, targets, lr, compiled)
    contenders.update(torch_contenders.make_contenders(handwritten.init_params(V, H, dtype), ids,
                                                       targets, lr, threads))
    return contenders


def _model_contender(B, T, H, dtype, ids, targets, lr, compiled):
    """CharRNN + cross_entropy + backward() + optim.SGD; under jit, the part up to backward()."""
    model = CharRNN(V, H, embedding_size=None, dtype=dtype)
    model_params_from(handwritten.init_params(V, H, dtype), model)
    opt = optim.SGD(model.parameters(), lr=lr)

    def forward_backward(ids, targets):
        logits, _ = model(ids)
        cross_entropy(logits, targets).backward()
    step = jit(forward_backward) if compiled else forward_backward

    def run_model():
        opt.zero_grad()
        step(ids, targets)
        opt.step()
    names = {"rnn.layers.0.weight_xh": "Wxh", "rnn.layers.0.weight_hh": "Whh",
             "rnn.layers.0.bias": "bh", "head.weight": "Why", "head.bias": "by"}
    run_model.grads = lambda: {names[k]: p.grad for k, p in model.named_parameters()}
    return run_model


def _engine_contender(B, T, H, dtype, ids, targets, lr, compiled):
    """A user's own RNN in plain Tensor ops, step by step; under jit, the part up to backward()."""
    init = handwritten.init_params(V, H, dtype)
    ep = {k: Tensor(v, requires_grad=True) for k, v in init.items()}
    eopt = optim.SGD(list(ep.values()), lr=lr)
    rows = np.arange(B)

    def forward_backward(ids, targets, h0):
        h = Tensor(h0)
        loss = 0
        for t in range(T):
            h = (ep["Wxh"][ids[:, t]] + h @ ep["Whh"] + ep["bh"]).tanh()
            logp = (h @ ep["Why"] + ep["by"]).log_softmax(axis=-1)
            loss = loss - logp[rows, targets[:, t]].sum()
        loss = loss * (1.0 / (B * T))
        loss.backward()
    step = jit(forward_backward) if compiled else forward_backward
    h0 = np.zeros((B, H), dtype=dtype)

    def run_engine():
        eopt.zero_grad()
        step(ids, targets, h0)
        eopt.step()
    run_engine.grads = lambda: {k: p.grad for k, p in ep.items()}
    return run_engine


def cell_contenders(B, T, H, dtype, lr=LR):
    """CharRNN with an LSTM and a GRU (one-hot inputs), one SGD step, eager and jitted."""
    rng = np.random.default_rng(1)
    ids, targets = rng.integers(0, V, (B, T)), rng.integers(0, V, (B, T))
    contenders = {}
    for cell in ("lstm", "gru"):
        for compiled in (False, True):
            model = CharRNN(V, H, cell=cell, embedding_size=None, dtype=dtype,
                            rng=np.random.default_rng(0))
            opt = optim.SGD(model.parameters(), lr=lr)

            def forward_backward(ids, targets, model=model):
                logits, _ = model(ids)
                cross_entropy(logits, targets).backward()
            step = jit(forward_backward) if compiled else forward_backward

            def run(step=step, opt=opt):
                opt.zero_grad()
                step(ids, targets)
                opt.step()
            contenders[cell + ("_jit" if compiled else "")] = run
    return contenders


def time_interleaved(contenders, steps, warmup):
    times = {name: [] for name in contenders}
    for i in range(warmup + steps):
        for name, fn in contenders.items():
            t0 = time.perf_counter()
            fn()
            if i >= warmup:
                times[name].append(time.perf_counter() - t0)
    return {name: float(np.median(ts)) for name, ts in times.items()}


def peak_memory(fn):
    fn()  # warm caches and lazily-made buffers first
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def min_char_rnn_contenders(seq_len=25, hidden=100):
    """min-char-rnn's training loop (H=100, T=25, Adagrad, clip +-5): the document's own
    (reference/min_char_rnn.py, column vectors, one character at a time) against the project's."""
    rng = np.random.default_rng(2)
    text = rng.integers(0, V, 10_000)
    params = {"Wxh": rng.normal(0, 0.01, (hidden, V)), "Whh": rng.normal(0, 0.01, (hidden, hidden)),
              "Why": rng.normal(0, 0.01, (V, hidden)), "bh": np.zeros((hidden, 1)),
              "by": np.zeros((V, 1))}
    state, pos = {}, [0]

    def document():
        p = pos[0] = (pos[0] + seq_len) % (len(text) - seq_len - 1)
        problem = {"inputs": list(text[p:p + seq_len]),
                   "targets": list(text[p + 1:p + seq_len + 1]),
                   "hprev": np.zeros((hidden, 1))}
        grads = min_char_rnn.backward_as_written(params, problem)
        min_char_rnn.update_as_written(params, grads, state)

    model = CharRNN(V, hidden, embedding_size=None, dtype=np.float64, rng=rng)
    opt = optim.Adagrad(model.parameters(), lr=0.1, initial_accumulator_value=1e-8, eps=0)
    carry, where = [None], [0]

    def project():
        p = where[0] = (where[0] + seq_len) % (len(text) - seq_len - 1)
        logits, h = model(text[None, p:p + seq_len], carry[0])
        loss = cross_entropy(logits, text[None, p + 1:p + seq_len + 1])
        opt.zero_grad()
        loss.backward()
        clip_grad_value_(model.parameters(), 5.0)
        opt.step()
        carry[0] = h.detach()

    return {"document": document, "project": project}


def blas_info():
    try:
        cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{cfg.get('name')} {cfg.get('version')}"
    except Exception:  # older numpy without mode="dicts"
        return "unknown"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps: under a minute")
    ap.add_argument("--threads", default="1", help="BLAS threads for every contender (default 1)")
    ap.add_argument("--configs", default="S,M,L")
    ap.add_argument("--dtypes", default="float32,float64")
    ap.add_argument("--no-cells", dest="cells", action="store_false",
                    help="skip the LSTM and GRU table")
    args = ap.parse_args(argv)

    torch_version = torch_contenders.version()
    # As `tinygrad_rnn.train` does, and for every contender alike: freed memory stays in the
    # process for the next step instead of coming back page fault by page fault.
    kept = keep_freed_memory()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, numpy {np.__version__}, BLAS {blas_info()}, "
          f"{args.threads} BLAS thread(s), "
          f"{'freed memory kept (mallopt)' if kept else 'default malloc'}, "
          + (f"PyTorch {torch_version}" if torch_version else "PyTorch not installed"))
    torch_cols = ("torch_eager", "torch_rnn") if torch_version else ()
    ratios = {"model": "model", "model_jit": "jitted model path", "engine": "engine",
              "engine_jit": "jitted plain-op loop", **{c: c for c in torch_cols}}
    print("| config | dtype | handwritten ms | gemm_floor ms | model ms | jitted model ms "
          "| engine ms | jitted plain-op ms | model/floor | "
          + "".join(f"{label}/hand | " for label in ratios.values())
          + "model mem/hand mem | jitted model mem/hand mem |")
    print("|---" * (11 + len(ratios)) + "|")
    cells = []
    for name in args.configs.split(","):
        B, T, H = CONFIGS[name]
        for dtype_name in args.dtypes.split(","):
            dtype = np.dtype(dtype_name).type
            contenders = make_contenders(B, T, H, dtype, int(args.threads))
            # Python's cycle collector now and then scans every object alive, the libraries'
            # (PyTorch's are many) as well as ours; freezing what exists after set-up keeps a
            # scan triggered by one contender from charging it for another's library.
            gc.freeze()
            steps = {"S": 200, "M": 30, "L": 10}[name] // (4 if args.quick else 1)
            ms = {k: v * 1e3 for k, v in time_interleaved(contenders, steps, warmup=3).items()}
            mem = {k: peak_memory(contenders[k]) for k in ("handwritten", "model", "model_jit")}
            hand = ms["handwritten"]
            print(f"| {name} (B={B},T={T},H={H}) | {dtype_name} | "
                  + "".join(f"{ms[k]:.2f} | " for k in ("handwritten", "gemm_floor", "model",
                                                         "model_jit", "engine", "engine_jit"))
                  + f"{ms['model'] / ms['gemm_floor']:.2f}x | "
                  + "".join(f"{ms[k] / hand:.2f}x | " for k in ratios)
                  + f"{mem['model'] / mem['handwritten']:.2f}x | "
                  f"{mem['model_jit'] / mem['handwritten']:.2f}x |", flush=True)
            if args.cells:
                gated = cell_contenders(B, T, H, dtype)
                gc.freeze()
                ms = time_interleaved(gated, steps, warmup=3)
                cells.append((name, B, T, H, dtype_name, {k: v * 1e3 for k, v in ms.items()}))

    if cells:
        print("\nCharRNN with gated cells (one-hot inputs, one SGD step), eager and jitted:\n")
        print("| config | dtype | LSTM ms | jitted LSTM ms | jitted/eager | GRU ms | jitted GRU ms "
              "| jitted/eager |")
        print("|---" * 8 + "|")
        for name, B, T, H, dtype_name, ms in cells:
            print(f"| {name} (B={B},T={T},H={H}) | {dtype_name} | "
                  + "".join(f"{ms[c]:.2f} | {ms[c + '_jit']:.2f} | {ms[c + '_jit'] / ms[c]:.2f}x | "
                            for c in ("lstm", "gru")).rstrip(), flush=True)

    secs = time_interleaved(min_char_rnn_contenders(), steps=50 if args.quick else 300, warmup=5)
    doc, ours = 25 / secs["document"], 25 / secs["project"]
    print(f"\nmin-char-rnn training (H=100, T=25, Adagrad, clip 5, float64): the document's loop "
          f"{doc:,.0f} chars/s, tinygrad_rnn {ours:,.0f} chars/s ({ours / doc:.2f}x)")


if __name__ == "__main__":
    main()
