"""The engine and the framework don't load the application: `tinygrad_rnn.train` is imported on
first use, and importing `tinygrad_rnn.nn` brings in neither training nor the allocator."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # so that the subprocess imports this tinygrad_rnn

PROBE = """
import sys
import tinygrad_rnn, tinygrad_rnn.nn
loaded = sorted(m for m in sys.modules if m.startswith(("tinygrad_rnn.charrnn", "tinygrad_rnn.optim",
                                                         "tinygrad_rnn.allocator", "tinygrad_rnn.cli")))
print(loaded)
from tinygrad_rnn.charrnn.train import train
print(tinygrad_rnn.train is train)
"""


def test_importing_the_framework_loads_no_application_and_train_is_lazy():
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[]", "True"]
