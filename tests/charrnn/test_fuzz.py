"""Fuzzing the command line and the text loader: random corpora, random option values, every
truncation of a checkpoint. Each case must either work or stop with one line,
`tinygrad-rnn: error: ...`, a non-zero exit status and no Traceback, and leave no damaged file
behind. The cases come from a seeded generator, so that a failure replays exactly; run with -s
to see how many were tried."""
import os
import random
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from tinygrad_rnn.charrnn import checkpoint as ckpt
from tinygrad_rnn.cli import main
from tinygrad_rnn.charrnn.checkpoint import CheckpointError

ROOT = Path(__file__).resolve().parents[2]  # so that subprocesses import this tinygrad_rnn
ENV = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
FAST = ["--hidden-size", "8", "--batch-size", "2", "--seq-len", "4", "--steps", "2",
        "--eval-every", "100", "--time-budget", "5"]


def run(capsys, argv):
    """main(argv) in-process -> (status, stdout, stderr), failing on any Python warning: a user
    would see it on stderr, around the one line."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            status = main(argv)
        except SystemExit as stop:
            status = stop.code
    out, err = capsys.readouterr()
    assert not caught, f"{argv}: {caught[0].message}"
    return status, out, err


def check_outcome(argv, status, err):
    """Worked quietly, or failed with exactly one `tinygrad-rnn: error:` line."""
    assert "Traceback" not in err, (argv, err)
    if status == 0:
        assert err == "", (argv, err)
    else:
        assert err.startswith("tinygrad-rnn: error: ") and err.count("\n") == 1, (argv, err)


def check_no_damage(folder, inputs):
    """Inputs unchanged; every checkpoint loads (complete, finite); no temporary file left."""
    for path, content in inputs.items():
        assert path.read_bytes() == content, path
    for name in os.listdir(folder):
        assert not name.endswith(".tmp"), name
        if name.startswith("out"):
            ckpt.load(folder / name)


# --- random corpora -------------------------------------------------------------------------

def random_text(chance):
    """Bytes of one of several kinds a user could hand over as a corpus."""
    size = chance.choice([0, 1, 3, 4, 5, 9, 30, 100, 400, 1500])
    kind = chance.choice(["bytes", "ascii", "unicode", "few", "cut", "lines"])
    if kind == "bytes":
        return chance.randbytes(size)
    if kind == "ascii":
        return bytes(chance.randrange(32, 127) for _ in range(size))
    if kind == "few":
        return "".join(chance.choice("ab\n") for _ in range(size)).encode()
    if kind == "lines":
        return "\ufeff".encode() + b"\r\n".join(b"to be\r" for _ in range(size // 7))
    points = [chance.choice([chance.randrange(32, 0xD800), chance.randrange(0xE000, 0x110000)])
              for _ in range(size // 3 + 1)]
    text = "".join(map(chr, points)).encode("utf-8")
    return text[:chance.randrange(len(text) + 1)] if kind == "cut" else text


def test_random_corpora(capsys, tmp_path):
    chance = random.Random(0)
    outcomes = {}
    for i in range(80):
        corpus = tmp_path / f"corpus{i}.txt"
        corpus.write_bytes(random_text(chance))
        out = tmp_path / "out.npz"
        argv = ["train", "--data", str(corpus), "--out", str(out), *FAST]
        status, _, err = run(capsys, argv)
        check_outcome(argv, status, err)
        check_no_damage(tmp_path, {corpus: corpus.read_bytes()})
        if status == 0:
            sample = ["sample", str(out), "--length", "20", "--seed", str(i)]
            assert run(capsys, sample)[0] == 0
            out.unlink()
        outcomes[status] = outcomes.get(status, 0) + 1
    print(f"\n80 random corpora: exit statuses {outcomes}")
    assert outcomes.get(0, 0) >= 10 and outcomes.get(1, 0) >= 10  # both kinds were exercised


# --- random option values -------------------------------------------------------------------

COUNTS = ["0", "-1", "", "abc", "1.5", "1e3", "0x10", " 3", "\u0663", str(10**12), str(10**30)]
NUMBERS = ["0", "-1", "", "nan", "inf", "-inf", "1e400", "1e-400", "abc", "1e300", "1e-300"]


@pytest.fixture(scope="module")
def fuzz_folder(tmp_path_factory):
    """A corpus, a checkpoint trained on it, a truncated copy, an empty file, a directory."""
    folder = tmp_path_factory.mktemp("fuzz")
    rng = np.random.default_rng(3)
    (folder / "corpus.txt").write_text("".join(rng.choice(["to ", "be ", "or ", "not\n"], 500)))
    assert main(["train", "--data", str(folder / "corpus.txt"), "--out", str(folder / "good.npz"),
                 *FAST]) == 0
    (folder / "truncated.npz").write_bytes((folder / "good.npz").read_bytes()[:-300])
    (folder / "empty.txt").write_bytes(b"")
    (folder / "sub").mkdir()
    return folder


def random_argv(chance, folder):
    """A command line mixing valid values (mostly) with malformed or extreme ones."""
    def pick(valid, invalid):
        return chance.choice(valid) if chance.random() < 0.8 else chance.choice(invalid)

    files = [str(folder / name) for name in ("corpus.txt", "good.npz", "truncated.npz",
                                             "empty.txt", "sub", "missing.npz")]
    command = "sample" if chance.random() < 0.4 else "train"
    if command == "sample":
        argv = ["sample", pick([files[1]], files)]
        options = {"--prime": lambda: pick(["to", "be ", "\n"], ["", "Z", "\u00e9t\u00e9", "\0"]),
                   "--length": lambda: pick(["0", "1", "30"], COUNTS[:-2]),
                   "--temperature": lambda: pick(["0", "0.5", "1", "1e-300", "1e300"], NUMBERS),
                   "--top-k": lambda: pick(["1", "3", "1000"], COUNTS),
                   "--seed": lambda: pick(["0", "7", str(2**70)], COUNTS)}
    else:
        argv = ["train"]
        small = ["1", "2", "4"]
        options = {"--data": lambda: pick([files[0]], files),
                   "--out": lambda: pick([str(folder / "out.npz")],
                                         ["", str(folder / "sub"), str(folder / "no" / "m.npz"),
                                          str(folder / "sub") + os.sep]),
                   "--resume": lambda: pick([files[1]], files),
                   "--hidden-size": lambda: pick(["4", "8"], COUNTS),
                   "--num-layers": lambda: pick(small, COUNTS),
                   "--batch-size": lambda: pick(small, COUNTS),
                   "--seq-len": lambda: pick(small, COUNTS),
                   "--steps": lambda: pick(small, COUNTS[:-2]),
                   "--eval-every": lambda: pick(small, COUNTS),
                   "--lr": lambda: pick(["0.01", "1", "1e37"], NUMBERS),
                   "--clip": lambda: pick(["0", "1", "1e-300"], NUMBERS),
                   "--seed": lambda: pick(["0", "5", str(2**70)], COUNTS),
                   "--time-budget": lambda: pick(["5", "1e-300"], NUMBERS),
                   "--optim": lambda: pick(["sgd", "adam", "adagrad", "adamw"], ["", "SGD", "x"]),
                   "--dtype": lambda: pick(["float32", "float64"], ["", "float16", "int8"]),
                   "--lr-schedule": lambda: pick(["constant", "linear", "cosine", "wsd"],
                                                 ["", "Cosine", "step"])}
    for name, value in options.items():
        if chance.random() < 0.5:
            argv += [name, value()]
    if chance.random() < 0.05:
        argv.insert(chance.randrange(len(argv) + 1), chance.choice(["--bogus", "--", "-x", "~"]))
    # short runs on the small corpus, never writing over the fixtures
    defaults = {"sample": [("--length", "30")],
                "train": [("--data", files[0]), ("--steps", "2"),
                          ("--out", str(folder / "out.npz")), ("--time-budget", "5")]}[command]
    argv += [word for name, value in defaults if name not in argv for word in (name, value)]
    return argv


def test_random_option_values(capsys, fuzz_folder):
    chance = random.Random(1)
    inputs = {fuzz_folder / name: (fuzz_folder / name).read_bytes()
              for name in ("corpus.txt", "good.npz", "truncated.npz", "empty.txt")}
    outcomes = {}
    for _ in range(300):
        argv = random_argv(chance, fuzz_folder)
        status, _, err = run(capsys, argv)
        check_outcome(argv, status, err)
        check_no_damage(fuzz_folder, inputs)
        outcomes[status] = outcomes.get(status, 0) + 1
    print(f"\n300 random command lines: exit statuses {outcomes}")
    assert min(outcomes.get(s, 0) for s in (0, 1, 2)) >= 20  # each outcome was exercised


# --- damaged checkpoints ------------------------------------------------------------------

def test_every_truncation_of_a_checkpoint_is_refused(capsys, fuzz_folder, tmp_path):
    whole = (fuzz_folder / "good.npz").read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(whole)
    for size in reversed(range(len(whole))):
        os.truncate(cut, size)
        with pytest.raises(CheckpointError):
            ckpt.load(cut)
        if size % 97 == 0:  # the commands on a sample of them
            for argv in (["sample", str(cut)],
                         ["train", "--resume", str(cut), "--out", str(tmp_path / "out.npz")]):
                status, _, err = run(capsys, argv)
                assert status == 1, argv
                check_outcome(argv, status, err)
                assert cut.read_bytes() == whole[:size]
    assert os.listdir(tmp_path) == ["cut.npz"]
    print(f"\n{len(whole)} truncations refused, {len(whole) // 97 + 1} of them by the commands")


def test_random_byte_flips_are_refused_or_harmless(fuzz_folder, tmp_path):
    """A flipped byte in the data fails the zip's CRC; one in a header field, anything."""
    chance = random.Random(2)
    whole = bytearray((fuzz_folder / "good.npz").read_bytes())
    damaged = tmp_path / "flipped.npz"
    refused = 0
    for _ in range(1000):
        flipped = bytearray(whole)
        for _ in range(chance.randint(1, 3)):
            flipped[chance.randrange(len(flipped))] = chance.randrange(256)
        damaged.write_bytes(flipped)
        try:
            saved = ckpt.load(damaged)
        except CheckpointError:
            refused += 1
            continue
        assert all(np.isfinite(v).all() for v in saved.params.values())
    print(f"\n1000 damaged copies: {refused} refused, {1000 - refused} harmless (header bytes)")
    assert refused > 900


# --- a few as a user runs them ------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["train", "--data", "{folder}/random.bin", "--out", "{folder}/out.npz"],
    ["sample", "{folder}/truncated.npz"],
    ["train", "--data", "{folder}/corpus.txt", "--lr", "nan"],
    ["train", "--data", "{folder}/corpus.txt", "--out", "{folder}/out.npz", "--lr", "1e300",
     "--batch-size", "2", "--seq-len", "4", "--hidden-size", "8"],
])
def test_in_a_subprocess_one_line_and_no_traceback(fuzz_folder, argv):
    (fuzz_folder / "random.bin").write_bytes(random.Random(3).randbytes(3000))
    argv = [a.format(folder=fuzz_folder) for a in argv]
    result = subprocess.run([sys.executable, "-m", "tinygrad_rnn", *argv], capture_output=True,
                            text=True, env=ENV, timeout=60)
    assert result.returncode in (1, 2)
    assert result.stderr.startswith("tinygrad-rnn: error: ") and result.stderr.count("\n") == 1, \
        result.stderr
    assert not (fuzz_folder / "out.npz").exists() or ckpt.load(fuzz_folder / "out.npz")
