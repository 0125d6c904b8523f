"""benchmarks/quality.py runs its recipe in both frameworks and both learn from it."""
import math
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
import quality  # noqa: E402


def test_the_recipe_trains_in_both_frameworks(capsys):
    pytest.importorskip("torch")
    quality.main(["--cell", "lstm", "--embedding-size", "8", "none", "--hidden-size", "16",
                  "--batch-size", "8", "--seq-len", "16", "--lr", "1e-2", "--steps", "40"])
    rows = [line.split("|")[1:-1] for line in capsys.readouterr().out.splitlines()
            if line.startswith("| tinygrad_rnn") or line.startswith("| torch")]
    got = {(name.strip(), E.strip()): float(val) for name, _, E, _, val, _ in rows}
    assert set(got) == {("tinygrad_rnn", "8"), ("torch", "8"), ("tinygrad_rnn", "None")}
    for val in got.values():  # 40 steps: well below the uniform guess, ln 65 = 4.17
        assert val < math.log(65) - 0.5
    assert abs(got["tinygrad_rnn", "8"] - got["torch", "8"]) < 0.3


def test_from_the_same_initial_weights_the_frameworks_agree(capsys):
    """The same weights (PyTorch's, through the export) and the same batches: what is left is
    float32 arithmetic in a different order, a small difference after 40 steps. (A GRU: it has
    PyTorch's parameters exactly, where the RNN and LSTM keep one bias for PyTorch's two.)"""
    pytest.importorskip("torch")
    quality.main(["--cell", "gru", "--embedding-size", "8", "--hidden-size", "16",
                  "--batch-size", "8", "--seq-len", "16", "--lr", "1e-2", "--steps", "40",
                  "--same-init"])
    rows = [line.split("|")[1:-1] for line in capsys.readouterr().out.splitlines()
            if line.startswith("| tinygrad_rnn") or line.startswith("| torch")]
    (ours, theirs), = [[float(r[4]) for r in rows]]
    assert ours < math.log(65) - 0.5 and abs(ours - theirs) < 1e-3
