import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tinygrad_rnn.charrnn import checkpoint as ckpt
from tinygrad_rnn.cli import main

from ..helpers import write_corpus

ROOT = Path(__file__).resolve().parents[2]  # so that the subprocess imports this tinygrad_rnn
SMALL = ["--hidden-size", "16", "--batch-size", "4", "--seq-len", "8", "--eval-every", "10"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    words = ["to ", "be ", "or ", "not ", "that ", "is\n"]
    return write_corpus(tmp_path_factory.mktemp("data"), words, 600, seed=1)


@pytest.fixture(scope="module")
def model_file(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "m.npz"
    assert main(["train", "--data", str(corpus), "--out", str(out), "--steps", "20", *SMALL]) == 0
    return out


def run(capsys, *argv):
    """main(argv) -> (exit status, stdout, stderr)."""
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def one_line_error(err):
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tinygrad-rnn: error: "), err
    return lines[0]


def test_train_logs_each_evaluation_and_saves(capsys, corpus, tmp_path):
    out = tmp_path / "m.npz"
    status, stdout, _ = run(capsys, "train", "--data", str(corpus), "--out", str(out),
                            "--steps", "15", *SMALL)
    assert status == 0
    assert "step     10 | train" in stdout and "nats/char" in stdout and "bits)" in stdout
    assert "step     15 |" in stdout  # the last step is always evaluated
    assert ckpt.load(out).training["step"] == 15


def test_the_train_command_keeps_freed_memory(capsys, corpus, tmp_path, monkeypatch):
    from tinygrad_rnn import allocator

    calls = []
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda: calls.append("mallopt") or True)
    status, _, _ = run(capsys, "train", "--data", str(corpus), "--out", str(tmp_path / "m.npz"),
                       "--steps", "1", *SMALL)
    assert status == 0 and calls == ["mallopt"]
    assert "keeps the memory it frees" in " ".join(run(capsys, "train", "--help")[1].split())


def test_lr_schedule_option_reaches_the_run(capsys, corpus, tmp_path):
    out = tmp_path / "m.npz"
    status, _, _ = run(capsys, "train", "--data", str(corpus), "--out", str(out), "--steps", "5",
                       "--lr-schedule", "cosine", "--lr", "0.02", *SMALL)
    assert status == 0
    saved = ckpt.load(out)
    assert saved.training["settings"]["lr_schedule"] == "cosine"
    assert saved.optimizer["param_groups"][0]["lr"] == pytest.approx(0.02 * (1 + math.cos(
        math.pi * 4 / 5)) / 2)  # the rate of the last step, the fifth


def test_dropout_option_reaches_the_model(capsys, corpus, tmp_path):
    out = tmp_path / "m.npz"
    assert run(capsys, "train", "--data", str(corpus), "--out", str(out), "--steps", "2",
               "--dropout", "0.25", *SMALL)[0] == 0
    saved = ckpt.load(out)
    assert saved.config["dropout"] == saved.training["settings"]["dropout"] == 0.25


@pytest.mark.parametrize("options, optimizer, decay", [
    ((), "adamw", 0.2),  # the defaults
    (("--optim", "adam"), "adam", 0.0),  # Adam's weight decay is an L2 term: none unless asked
    (("--optim", "sgd", "--weight-decay", "0.5"), "sgd", 0.5),
])
def test_weight_decay_option_reaches_the_optimizer(capsys, corpus, tmp_path, options, optimizer,
                                                   decay):
    out = tmp_path / "m.npz"
    assert run(capsys, "train", "--data", str(corpus), "--out", str(out), "--steps", "2",
               *options, *SMALL)[0] == 0
    saved = ckpt.load(out)
    assert (saved.training["settings"]["optim"], saved.training["settings"]["weight_decay"]) \
        == (optimizer, decay)
    assert saved.optimizer["param_groups"][0]["weight_decay"] == decay


def test_sample_streams_text_repeatably(capsys, model_file):
    args = ["sample", str(model_file), "--prime", "to be", "--length", "40", "--seed", "3"]
    status, first, _ = run(capsys, *args)
    assert status == 0 and first.startswith("to be") and len(first) == len("to be") + 40 + 1
    assert run(capsys, *args)[1] == first
    greedy = run(capsys, "sample", str(model_file), "--temperature", "0", "--length", "30")[1]
    assert greedy == run(capsys, "sample", str(model_file), "--top-k", "1", "--length", "30")[1]


@pytest.mark.parametrize("argv, message", [
    ([], "required: COMMAND"),
    (["train", "--optim", "rmsprop"], "invalid choice: 'rmsprop'"),
    (["train", "--batch-size", "0"], "--batch-size: must be a positive integer, got '0'"),
    (["train", "--hidden-size", "-3"], "--hidden-size: must be a positive integer"),
    (["train", "--lr", "abc"], "--lr: expected a number, got 'abc'"),
    (["train", "--dtype", "float16"], "invalid choice: 'float16'"),
    (["train", "--lr-schedule", "step"],
     "--lr-schedule: invalid choice: 'step' (choose from 'constant', 'linear', 'cosine', 'wsd')"),
    (["sample", "m.npz", "--temperature", "-1"], "--temperature: must be a finite number >= 0"),
    (["train", "--bogus"], "unrecognized arguments: --bogus"),
    (["train", "--dropout", "1"], "--dropout: must be a number in [0, 1), got '1'"),
    (["train", "--dropout", "-0.5"], "--dropout: must be a finite number >= 0, got '-0.5'"),
    (["train", "--weight-decay", "-1"], "--weight-decay: must be a finite number >= 0, got '-1'"),
])
def test_usage_errors_exit_2_with_one_line(capsys, argv, message):
    status, _, err = run(capsys, *argv)
    assert status == 2
    assert message in one_line_error(err)


def test_data_errors_exit_1_with_one_line(capsys, tmp_path):
    cases = {"empty.txt": (b"", "the file is empty"),
             "binary.txt": (bytes(range(256)), "binary"),
             "short.txt": (b"to be or not to be", "too short for one batch")}
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
    cases["missing.txt"] = (None, "missing.txt: no such file")
    for name, (_, message) in cases.items():
        status, _, err = run(capsys, "train", "--data", str(tmp_path / name),
                             "--out", str(tmp_path / "m.npz"), *SMALL)
        assert status == 1 and message in one_line_error(err), name
    assert not (tmp_path / "m.npz").exists()


def test_checkpoint_errors_exit_1_and_leave_the_checkpoint_alone(capsys, model_file, corpus,
                                                                 tmp_path):
    status, _, err = run(capsys, "train", "--data", str(corpus), "--resume", str(model_file),
                         "--out", str(model_file), "--hidden-size", "32")
    assert status == 1 and "hidden_size = 16" in one_line_error(err)
    assert ckpt.load(model_file).training["step"] == 20

    broken = tmp_path / "broken.npz"
    broken.write_bytes(model_file.read_bytes()[:-100])
    status, _, err = run(capsys, "sample", str(broken))
    assert status == 1 and "truncated or corrupt" in one_line_error(err)
    status, _, err = run(capsys, "sample", str(tmp_path / "none.npz"))
    assert status == 1 and "no such file" in one_line_error(err)


def test_prime_outside_the_vocabulary_names_the_character(capsys, model_file):
    status, out, err = run(capsys, "sample", str(model_file), "--prime", "to Z")
    assert status == 1 and "character 'Z'" in one_line_error(err) and out == ""


def test_ctrl_c_saves_then_exits_130(corpus, tmp_path):
    out = tmp_path / "m.npz"
    proc = subprocess.Popen([sys.executable, "-m", "tinygrad_rnn", "train", "--data", str(corpus),
                             "--out", str(out), "--steps", "1000000", *SMALL],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    deadline = time.monotonic() + 20
    while not out.exists() and time.monotonic() < deadline:  # the first save is at step 10
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "interrupted: stopped at step" in err and "Traceback" not in err
    assert ckpt.load(out).training["step"] >= 10


def test_sample_into_a_closed_pipe_stops_quietly(model_file, tmp_path):
    """`sample ... | head`: when the reader goes away, no error line, no traceback, status 141."""
    proc = subprocess.Popen([sys.executable, "-m", "tinygrad_rnn", "sample", str(model_file),
                             "--length", "200000", "--seed", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert len(proc.stdout.read(10)) == 10  # the sample has started streaming
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 141, err
    assert err == b""
