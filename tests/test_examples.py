"""Every script in examples/ runs to the end with --quick and prints what its docstring promises."""
import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# A line of each example's output that shows it did its job.
EXPECTED = {
    "01_autograd_basics.py": "autograd: dz/dx = 10.0, dz/dy = 3.0",
    "02_custom_function.py": "input 0 (shape (4,)), element (2,)",
    "03_bptt_from_the_graph.py": "Karpathy's min-char-rnn in a notebook                   none",
    "04_check_your_gradients.py": "W1             3.199e-01   5.18e-01  WRONG",
    "05_train_char_rnn.py": "--- sample at temperature 1.0 ---",
    "06_vanishing_gradients.py": "per step back, from 10 to 39 steps back, x ",
    "07_continue_in_pytorch.py": "--- sampled here from the weights PyTorch trained ---",
}
# What an example needs beyond this package; without it, its test is skipped.
NEEDS = {"07_continue_in_pytorch.py": ("torch", "safetensors")}


def test_the_examples_are_numbered_one_to_five():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs(name, tmp_path):
    for module in NEEDS.get(name, ()):
        pytest.importorskip(module)
    path = EXAMPLES / name
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    assert doc and "look at" in doc and "Run:" in doc
    env = dict(os.environ, PYTHONPATH=str(EXAMPLES.parent))
    done = subprocess.run([sys.executable, str(path), "--quick"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert EXPECTED[name] in done.stdout
    assert not list(tmp_path.iterdir())  # nothing written to the working directory


def test_example_06_draws_its_plot(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "gradients.png"
    env = dict(os.environ, PYTHONPATH=str(EXAMPLES.parent))
    done = subprocess.run([sys.executable, str(EXAMPLES / "06_vanishing_gradients.py"), "--quick",
                           "--plot", str(out)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes().startswith(b"\x89PNG")
