import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tinygrad_rnn.charrnn import checkpoint as ckpt
from tinygrad_rnn.charrnn.checkpoint import Checkpoint, CheckpointError


def example():
    return Checkpoint(
        config={"vocab_size": 3, "hidden_size": 2, "num_layers": 1, "dtype": "float32"},
        vocab="abc",
        params={"w": np.arange(6, dtype=np.float32).reshape(3, 2)},
        optimizer={"state": {0: {"step": 3, "exp_avg": np.ones(2, dtype=np.float32)}},
                   "param_groups": [{"lr": 0.002, "betas": (0.9, 0.999), "params": [0]}]},
        training={"step": 7, "hidden": None, "history": [{"step": 5, "val_loss": 1.25}],
                  "rng": {"state": {"state": 2**100 + 1}}})


def test_round_trip_keeps_arrays_numbers_and_integer_keys(tmp_path):
    path = tmp_path / "c.npz"
    ckpt.save(path, example())
    back = ckpt.load(path)
    assert back.config == example().config and back.vocab == "abc"
    np.testing.assert_array_equal(back.params["w"], example().params["w"])
    assert back.params["w"].dtype == np.float32
    state = back.optimizer["state"][0]  # the key is the integer 0 again, not "0"
    assert state["step"] == 3 and state["exp_avg"].tolist() == [1, 1]
    assert back.optimizer["param_groups"][0]["betas"] == [0.9, 0.999]
    assert back.training == example().training


def test_the_file_holds_no_pickle(tmp_path):
    path = tmp_path / "c.npz"
    ckpt.save(path, example())
    with np.load(path, allow_pickle=False) as npz:
        assert all(npz[name].dtype != object for name in npz.files)
        meta = json.loads(npz["meta"].tobytes().decode())
    assert meta["format"] == "tinygrad_rnn.checkpoint"


def test_save_replaces_atomically_and_a_failed_save_changes_nothing(tmp_path):
    path = tmp_path / "c.npz"
    ckpt.save(path, example())
    before = path.read_bytes()
    bad = example()
    bad.training["oops"] = object()  # not storable
    with pytest.raises(TypeError):
        ckpt.save(path, bad)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["c.npz"]  # no temporary file left behind


def doctored(tmp_path, **arrays):
    """A checkpoint whose arrays are replaced or added by `arrays` (None removes one)."""
    path = tmp_path / "c.npz"
    ckpt.save(path, example())
    with np.load(path) as npz:
        contents = {name: npz[name] for name in npz.files}
    for name, value in arrays.items():
        if value is None:
            del contents[name]
        else:
            contents[name] = value
    np.savez(path, **contents)
    return path


def npy_bytes(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def meta_bytes(meta):
    return np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)


@pytest.mark.parametrize("change, message", [
    (lambda p: p.write_bytes(p.read_bytes()[:200]), "truncated or corrupt"),
    (lambda p: p.write_bytes(b""), "the file is empty"),
    (lambda p: p.write_bytes(pickle.dumps({"w": 1})), "a Python pickle; refusing"),
    (lambda p: p.write_bytes(npy_bytes(np.zeros(3))), "a single .npy array"),
    (lambda p: p.write_text("hello"), "not an .npz zip archive"),
])
def test_load_refuses_damaged_files(tmp_path, change, message):
    path = tmp_path / "c.npz"
    ckpt.save(path, example())
    change(path)
    with pytest.raises(CheckpointError, match=message):
        ckpt.load(path)


@pytest.mark.parametrize("arrays, message", [
    ({"params/w": np.array([object()], dtype=object)}, "'params/w' holds pickled Python objects"),
    ({"meta": None}, "no 'meta' entry"),
    ({"meta": np.frombuffer(b"{not json", dtype=np.uint8)}, "malformed metadata, not valid"),
    ({"meta": meta_bytes({"format": "other"})}, "not a tinygrad_rnn checkpoint"),
    ({"params/w": None}, "refers to array 'params/w', which the file does not contain"),
    ({"params/w": np.zeros((3, 2))}, "parameter 'w' should be a float32 array, got float64"),
])
def test_load_refuses_doctored_contents(tmp_path, arrays, message):
    with pytest.raises(CheckpointError, match=message):
        ckpt.load(doctored(tmp_path, **arrays))


def test_load_names_a_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="nope.npz: no such file"):
        ckpt.load(tmp_path / "nope.npz")


def test_check_params_names_what_does_not_fit():
    want = {"w": np.zeros((3, 2), np.float32), "b": np.zeros(2, np.float32)}
    ckpt.check_params("c.npz", dict(want), want)
    with pytest.raises(CheckpointError, match="missing b; unexpected v"):
        ckpt.check_params("c.npz", {"w": want["w"], "v": want["b"]}, want)
    with pytest.raises(CheckpointError, match=r"'w' has shape \(2, 3\), the model expects"):
        ckpt.check_params("c.npz", {"w": np.zeros((2, 3), np.float32), "b": want["b"]}, want)
    with pytest.raises(CheckpointError, match="'b' has dtype float64, the model expects float32"):
        ckpt.check_params("c.npz", {"w": want["w"], "b": np.zeros(2)}, want)


class RunsCode:
    """Unpickling this runs code: it writes `marker`. What a hostile checkpoint would hold."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('ran')",)


def hostile_files(tmp_path, marker):
    """Files that would run RunsCode on a careless load, each in a different place."""
    path = tmp_path / "c.npz"
    ckpt.save(path, example())
    with np.load(path) as npz:
        contents = {name: npz[name] for name in npz.files}
    payload = np.array([RunsCode(marker)], dtype=object)
    files = {"object array": tmp_path / "object.npz", "plain pickle": tmp_path / "plain.pkl",
             "pickled member": tmp_path / "member.npz"}
    np.savez(files["object array"], **dict(contents, **{"params/w": payload}))
    files["plain pickle"].write_bytes(pickle.dumps(RunsCode(marker)))
    np.savez(files["pickled member"], **contents)
    with zipfile.ZipFile(files["pickled member"], "a") as z:  # a member np.load won't parse
        z.writestr("optimizer.pkl", pickle.dumps(RunsCode(marker)))
    return files


def test_a_hostile_pickle_is_refused_and_never_runs(tmp_path, capsys):
    from tinygrad_rnn.charrnn.checkpoint import load_model
    from tinygrad_rnn.cli import main

    marker = tmp_path / "marker"
    files = hostile_files(tmp_path, marker)
    messages = {"object array": "holds pickled Python objects; refusing",
                "plain pickle": "a Python pickle; refusing",
                "pickled member": "entry 'optimizer.pkl' is not a .npy array"}
    for kind, path in files.items():
        for load in (ckpt.load, load_model):
            with pytest.raises(CheckpointError, match=messages[kind]):
                load(path)
        assert main(["sample", str(path)]) == 1 and messages[kind] in capsys.readouterr().err
        assert not marker.exists(), kind
    with np.load(files["object array"], allow_pickle=True) as npz:  # the payload is live:
        npz["params/w"]  # a careless load runs it
    assert marker.read_text() == "ran"


def test_load_refuses_a_non_finite_parameter(tmp_path):
    with pytest.raises(CheckpointError, match="parameter 'w' holds NaN or Inf values"):
        ckpt.load(doctored(tmp_path, **{"params/w": np.full((3, 2), np.nan, np.float32)}))


def meta_of(changes):
    """The example's metadata with `changes` applied (None removes a key), as the 'meta' array."""
    meta = {"format": "tinygrad_rnn.checkpoint", "version": 2, "config": example().config,
            "vocab": "abc", "params": {"w": {"$array": "params/w"}}, "optimizer": None,
            "training": {}}
    for key, value in changes.items():
        if value is None:
            del meta[key]
        else:
            meta[key] = value
    return meta_bytes(meta)


@pytest.mark.parametrize("meta, message", [
    (meta_of({"version": 5}), "checkpoint format version 5; this tinygrad_rnn reads versions 1 "
                              "to 4"),
    (meta_of({"vocab": None}), "metadata entry 'vocab' is missing or not a str"),
    (meta_of({"training": []}), "metadata entry 'training' is missing or not a dict"),
    (meta_of({"config": dict(example().config, hidden_size=0)}),
     "config 'hidden_size' should be a positive integer, got 0"),
    (meta_of({"config": dict(example().config, vocab_size="3")}),
     "config 'vocab_size' should be a positive integer, got '3'"),
    (meta_of({"config": dict(example().config, dtype="float16")}), "config 'dtype' should be one"),
    (meta_of({"vocab": "cba"}), "the vocabulary should be 3 distinct sorted characters"),
    (meta_of({"params": {"$items": 5}}), "malformed metadata"),
    (np.zeros(4), "'meta' should be UTF-8 JSON bytes"),
    (np.frombuffer(b"[" * 100_000, dtype=np.uint8), "malformed metadata, not valid UTF-8 JSON"),
])
def test_load_names_what_is_wrong_in_the_metadata(tmp_path, meta, message):
    with pytest.raises(CheckpointError, match=message):
        ckpt.load(doctored(tmp_path, meta=meta))


# --- checkpoints written by earlier releases ---------------------------------------------------
# checkpoint_v1: release 0.1.0, a one-hot RNN; checkpoint_v2: release 0.2.0, a GRU after an
# embedding, trained 3 steps on the packaged corpus; checkpoint_v3: release 0.4.0, two GRU layers
# with dropout 0.1, trained 3 steps with AdamW. Each .json records what that release computed
# (the logits in eval mode).

OLD = Path(__file__).resolve().parents[1] / "data"


@pytest.mark.parametrize("name", ["checkpoint_v1", "checkpoint_v2", "checkpoint_v3"])
def test_an_earlier_releases_checkpoint_loads_and_computes_what_it_did(capsys, name):
    from tinygrad_rnn.charrnn.checkpoint import load_model
    from tinygrad_rnn.cli import main

    expected = json.loads((OLD / f"{name}.json").read_text())
    model = load_model(OLD / f"{name}.npz")
    with model.evaluating():
        logits, _ = model(np.array(expected["ids"]))
    np.testing.assert_allclose(logits.data, expected["logits"], rtol=0, atol=1e-6)
    # what `sample CHECKPOINT --length 40 --seed 1` printed: the prime (a newline), 40 characters
    assert main(["sample", str(OLD / f"{name}.npz"), "--length", "40", "--seed", "1"]) == 0
    assert capsys.readouterr().out == expected["sample_seed1_length40"]


def test_a_release_0_2_run_resumes(tmp_path):
    from tinygrad_rnn.charrnn.train import train

    model, history = train(out=tmp_path / "resumed.npz", resume=OLD / "checkpoint_v2.npz",
                           steps=2, time_budget=None, verbose=False)
    assert history[-1]["step"] == 5  # 3 steps in release 0.2.0, 2 more now
    assert model.config()["cell"] == "gru" and model.config()["dropout"] == 0.0
    assert ckpt.load(tmp_path / "resumed.npz").training["settings"]["dropout"] == 0.0


@pytest.mark.parametrize("name, optimizer, decay", [("checkpoint_v2", "adam", 0.0),
                                                    ("checkpoint_v3", "adamw", 0.01)])
def test_an_earlier_release_resumes_with_the_weight_decay_it_had(tmp_path, name, optimizer,
                                                                  decay):
    """Before format 4 the settings named no weight decay: the optimizer had its own default
    (AdamW's 0.01, Adam's none), not today's default of 0.2 for AdamW."""
    from tinygrad_rnn.charrnn.config import TrainSettings
    from tinygrad_rnn.charrnn.train import train

    saved = ckpt.load(OLD / f"{name}.npz")
    settings = TrainSettings.resolve({}, saved.training["settings"], name)
    assert (settings.optim, settings.weight_decay) == (optimizer, decay)
    model, history = train(out=tmp_path / "resumed.npz", resume=OLD / f"{name}.npz", steps=1,
                           time_budget=None, verbose=False)
    assert history[-1]["step"] == 4
    resumed = ckpt.load(tmp_path / "resumed.npz")
    assert resumed.training["settings"]["weight_decay"] == decay
    assert [g["weight_decay"] for g in resumed.optimizer["param_groups"]] == [decay]
    # given anew on resuming, the new value is the one used (as a new lr would be)
    train(out=tmp_path / "again.npz", resume=tmp_path / "resumed.npz", steps=1, time_budget=None,
          verbose=False, weight_decay=0.3)
    again = ckpt.load(tmp_path / "again.npz")
    assert again.training["settings"]["weight_decay"] == 0.3
    assert [g["weight_decay"] for g in again.optimizer["param_groups"]] == [0.3]
