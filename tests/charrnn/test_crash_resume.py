"""When a run goes wrong (the loss diverges, the process is killed, the disk fills up, the folder
turns read-only) it stops with one clear message, and the checkpoint on disk is the last good one:
complete, loadable, finite, and a run resumed from it continues where it stopped."""
import errno
import os
import random
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from tinygrad_rnn.charrnn import checkpoint as ckpt
from tinygrad_rnn.charrnn.checkpoint import CheckpointError
from tinygrad_rnn.charrnn.train import TrainingDiverged, train
from tinygrad_rnn.cli import main
from tinygrad_rnn.optim import Adam

from ..helpers import write_corpus

ROOT = Path(__file__).resolve().parents[2]  # so that subprocesses import this tinygrad_rnn
ENV = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
TINY = dict(hidden_size=16, batch_size=4, seq_len=8, time_budget=None, verbose=False)
TINY_ARGS = ["--hidden-size", "16", "--batch-size", "4", "--seq-len", "8"]
SGD = dict(optim="sgd", clip=0, eval_every=1)
EXPLODE_ARGS = ["--lr", "1e37"]  # float32 overflows within a step or two


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    words = ["to ", "be ", "or ", "not ", "that ", "is\n"]
    return write_corpus(tmp_path_factory.mktemp("data"), words, 600, seed=2)


def finite_checkpoint(path):
    """The checkpoint at `path`, checked complete and finite (load refuses NaN/Inf weights)."""
    saved = ckpt.load(path)
    assert all(np.isfinite(v).all() for v in saved.params.values())
    return saved


# --- divergence -----------------------------------------------------------------------------

def good_start(corpus, out):
    """A checkpoint of 3 sound steps of SGD, to resume with a learning rate far too high."""
    train(corpus, out, steps=3, lr=0.5, **SGD, **TINY)


def test_a_diverging_run_stops_without_saving_the_bad_state(corpus, tmp_path):
    out = tmp_path / "m.npz"
    good_start(corpus, out)
    with pytest.raises(TrainingDiverged) as err:
        train(corpus, out, steps=50, resume=out, lr=1e37, **TINY)
    found = re.fullmatch(r"training diverged at step (\d+): the (validation )?loss is (inf|nan); "
                         r".*m\.npz (keeps step (\d+), the last good state|is left as it was)\. "
                         r"Try a lower --lr \(now 1e\+37\) or --clip 1", str(err.value))
    assert found, str(err.value)
    kept = finite_checkpoint(out).training["step"]
    assert kept == int(found[5] or 3) < int(found[1])


def test_an_update_that_overflows_is_not_saved_even_if_the_loss_was_finite(corpus, tmp_path,
                                                                          monkeypatch):
    steps, real_step = [], Adam.step

    def poisoned_step(self):  # the loss was finite, the 4th update made a weight NaN
        real_step(self)
        steps.append(len(steps) + 1)
        if len(steps) == 4:
            self.param_groups[0]["params"][-1].data[0] = np.nan  # the last one: head.bias

    monkeypatch.setattr(Adam, "step", poisoned_step)
    out = tmp_path / "m.npz"
    with pytest.raises(TrainingDiverged, match="at step 4: parameter head.bias holds NaN or Inf; "
                                               ".* keeps step 2"):
        train(corpus, out, steps=10, eval_every=2, **TINY)
    assert finite_checkpoint(out).training["step"] == 2


def test_the_command_line_reports_divergence_in_one_line_and_exits_1(corpus, tmp_path):
    """A subprocess, to see all it writes: numpy's overflow warnings must not leak out either."""
    out = tmp_path / "m.npz"
    good_start(corpus, out)
    result = subprocess.run([sys.executable, "-m", "tinygrad_rnn", "train", "--resume", str(out),
                             "--out", str(out), *EXPLODE_ARGS],
                            capture_output=True, text=True, env=ENV, timeout=60)
    assert result.returncode == 1
    assert re.fullmatch(r"tinygrad-rnn: error: training diverged at step \d+: .*\n", result.stderr)
    assert finite_checkpoint(out).training["step"] >= 3


# --- SIGKILL ----------------------------------------------------------------------------------

def read_step_line(proc, deadline):
    """The step number of the next evaluation line the training process prints."""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], deadline - time.monotonic())
        line = proc.stdout.readline() if ready else ""
        if not line and proc.poll() is not None:
            break
        if line.startswith("step "):
            return int(line.split()[1])
    raise AssertionError(f"no evaluation line from the training process (exit {proc.poll()})")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and select on pipes are POSIX")
def test_sigkill_at_random_moments_never_damages_the_checkpoint(corpus, tmp_path):
    """Kill -9 a training run that saves at every step, at random moments, five times, resuming
    each time from whatever the last run left; then finish cleanly."""
    out = tmp_path / "m.npz"
    chance = random.Random(0)
    saved_steps = []
    for _ in range(5):
        argv = [sys.executable, "-m", "tinygrad_rnn", "train", "--data", str(corpus),
                "--out", str(out), "--eval-every", "1", "--steps", "100000", *TINY_ARGS]
        if out.exists():
            argv += ["--resume", str(out)]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True, env=ENV)
        try:
            first = read_step_line(proc, time.monotonic() + 30)
            time.sleep(chance.uniform(0, 0.4))
        finally:
            proc.kill()
            proc.wait()
        # a resumed run continues from the step its checkpoint holds
        assert first == (saved_steps[-1] + 1 if saved_steps else 1)
        saved_steps.append(finite_checkpoint(out).training["step"])
        strays = [name for name in os.listdir(tmp_path) if name != "m.npz"]
        assert all(name.startswith(".m.npz.") and name.endswith(".tmp") for name in strays)

    assert saved_steps == sorted(saved_steps) and saved_steps[-1] > saved_steps[0]
    assert main(["train", "--resume", str(out), "--out", str(out), "--steps", "3"]) == 0
    assert finite_checkpoint(out).training["step"] == saved_steps[-1] + 3
    assert os.listdir(tmp_path) == ["m.npz"]  # the save removed what the kills left behind


DIE = """
import os, signal, sys
from tinygrad_rnn.charrnn import checkpoint as ckpt
saved = ckpt.load(sys.argv[1])
saved.training["step"] += 1
os.{call} = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
ckpt.save(sys.argv[1], saved)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
@pytest.mark.parametrize("call", ["fsync", "replace"])  # the data written; about to be renamed
def test_a_save_killed_at_its_worst_moment_leaves_the_old_checkpoint(corpus, tmp_path, call):
    out = tmp_path / "m.npz"
    train(corpus, out, steps=2, **TINY)
    before = out.read_bytes()
    proc = subprocess.run([sys.executable, "-c", DIE.format(call=call), str(out)], env=ENV,
                          capture_output=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert out.read_bytes() == before
    (leftover,) = set(os.listdir(tmp_path)) - {"m.npz"}
    assert leftover.startswith(".m.npz.") and leftover.endswith(".tmp")
    train(corpus, out, steps=1, resume=out, **TINY)
    assert finite_checkpoint(out).training["step"] == 3
    assert os.listdir(tmp_path) == ["m.npz"]


def tiny_checkpoint():
    return ckpt.Checkpoint(config={"vocab_size": 2, "hidden_size": 1, "num_layers": 1,
                                   "dtype": "float32"},
                           vocab="ab", params={"w": np.ones((2, 1), np.float32)})


def test_a_save_removes_only_its_own_leftovers(tmp_path):
    ckpt.save(tmp_path / "m.npz", tiny_checkpoint())
    names = [".m.npz.k3x_9q.tmp", ".m.npz.bak.a1b2c3.tmp", "m.npz.tmp", ".m.npz.notes"]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    ckpt.save(tmp_path / "m.npz", tiny_checkpoint())
    assert sorted(os.listdir(tmp_path)) == sorted(["m.npz"] + names[1:])


# --- disk full, read-only folder --------------------------------------------------------------

class FullDisk:
    """A file object that takes `room` bytes, then fails as a full disk does (ENOSPC)."""

    def __init__(self, f, room):
        self.f, self.room = f, room

    def write(self, data):
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def fill_the_disk(monkeypatch, room):
    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: FullDisk(real_fdopen(fd, *a, **k), room))


def enospc(*args):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("failure", ["write", "fsync"])
def test_a_full_disk_fails_the_save_clearly_and_keeps_the_previous_checkpoint(
        corpus, tmp_path, monkeypatch, capsys, failure):
    out = tmp_path / "m.npz"
    train(corpus, out, steps=2, **TINY)
    before = out.read_bytes()
    if failure == "write":
        fill_the_disk(monkeypatch, room=1000)
    else:
        monkeypatch.setattr(os, "fsync", enospc)
    with pytest.raises(CheckpointError, match="m.npz: cannot write the checkpoint "
                                              r"\(No space left on device\)"):
        train(corpus, out, steps=2, resume=out, **TINY)
    status = main(["train", "--resume", str(out), "--out", str(out), "--steps", "2"])
    err = capsys.readouterr().err
    assert status == 1 and err.count("\n") == 1
    assert err.startswith("tinygrad-rnn: error: ") and "No space left on device" in err
    assert out.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.npz"]


def test_a_read_only_folder_is_refused_before_training_and_at_a_save(corpus, tmp_path,
                                                                    monkeypatch, capsys):
    """As root, chmod doesn't stop writes, so the file system's refusals are simulated."""
    out = tmp_path / "m.npz"
    train(corpus, out, steps=2, **TINY)
    before = out.read_bytes()
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False)
    assert main(["train", "--data", str(corpus), "--out", str(out), *TINY_ARGS]) == 1
    assert "is not writable" in capsys.readouterr().err
    monkeypatch.undo()

    def read_only(*args, **kwargs):  # the folder turned read-only during the run
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(CheckpointError, match=r"cannot write the checkpoint \(Read-only file "
                                              r"system\); the previous one, if any, is left"):
        train(corpus, out, steps=2, resume=out, **TINY)
    assert out.read_bytes() == before and os.listdir(tmp_path) == ["m.npz"]
