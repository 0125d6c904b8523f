"""save_safetensors / load_safetensors: the round trip, the metadata, atomic writes, and a one-line
error naming the file for every file that can't be used."""
import json
import os

import numpy as np
import pytest

from tinygrad_rnn.export import (ExportError, architecture, load_safetensors, save_safetensors,
                                 to_torch)

from .test_layout import Chars, logits_over_two_chunks, model_of

safetensors = pytest.importorskip("safetensors")
from safetensors.numpy import save_file  # noqa: E402  (after the skip)

CHARS = "\n !abcd"


def saved(tmp_path, cell="lstm", embedding_size=4, dtype=np.float32, name="m.safetensors"):
    model = model_of(cell, layers=2, dtype=dtype, embedding_size=embedding_size)
    model.vocab = Chars(CHARS)
    path = tmp_path / name
    save_safetensors(model, path)
    return model, path


@pytest.mark.parametrize("embedding_size", [4, None], ids=["embedding", "one-hot"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_a_saved_model_loads_back_with_the_same_function(tmp_path, cell, embedding_size):
    model, path = saved(tmp_path, cell, embedding_size, dtype=np.float64)
    back, chars = load_safetensors(path)
    assert chars == CHARS and back.vocab is None
    assert back.config() == dict(model.config(), embedding_size=embedding_size or len(CHARS))
    np.testing.assert_allclose(logits_over_two_chunks(back), logits_over_two_chunks(model),
                               rtol=1e-13, atol=1e-13)
    assert sorted(os.listdir(tmp_path)) == ["m.safetensors"]  # no temporary file left


def test_the_file_holds_pytorchs_arrays_and_json_metadata(tmp_path):
    model, path = saved(tmp_path, "gru", embedding_size=None)
    with safetensors.safe_open(str(path), framework="np") as f:
        metadata = f.metadata()
        arrays = {name: f.get_tensor(name) for name in f.keys()}
    assert json.loads(metadata["vocab"]) == CHARS
    assert json.loads(metadata["architecture"]) == {
        "vocab_size": 7, "hidden_size": 5, "num_layers": 2, "cell": "gru",
        "embedding_size": None, "dtype": "float32"}
    expected = to_torch(model)
    assert sorted(arrays) == sorted(expected)
    for name, value in expected.items():
        np.testing.assert_array_equal(arrays[name], value)
        assert arrays[name].dtype == np.float32


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path, monkeypatch):
    _, path = saved(tmp_path)
    before = path.read_bytes()
    model = model_of("rnn")
    model.vocab = Chars(CHARS)

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(ExportError, match="m.safetensors: cannot write it .No space left"):
        save_safetensors(model, path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["m.safetensors"]


def test_a_model_without_a_vocabulary_is_not_saved(tmp_path):
    with pytest.raises(ExportError, match="m.safetensors: the model has no vocabulary"):
        save_safetensors(model_of("rnn"), tmp_path / "m.safetensors")
    assert not list(tmp_path.iterdir())


def load_error(path, match):
    with pytest.raises(ExportError, match=match) as caught:
        load_safetensors(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    return message


def test_a_file_that_is_not_safetensors_is_named(tmp_path):
    text = tmp_path / "notes.safetensors"
    text.write_text("just some text, long enough to have a header length")
    load_error(text, "not a safetensors file")
    _, path = saved(tmp_path)
    truncated = tmp_path / "cut.safetensors"
    truncated.write_bytes(path.read_bytes()[:-10])
    load_error(truncated, "not a safetensors file")
    load_error(tmp_path / "absent.safetensors", "no such file")
    load_error(tmp_path, "is a directory")


def write(tmp_path, arrays, metadata):
    path = tmp_path / "other.safetensors"
    save_file(arrays, str(path), metadata=metadata)
    return path


def test_missing_or_malformed_metadata_is_named(tmp_path):
    model, path = saved(tmp_path)
    arrays, chars = to_torch(model), json.dumps(CHARS)
    arch = json.dumps(architecture(model))
    load_error(write(tmp_path, arrays, None), "no 'vocab' in the file's metadata")
    load_error(write(tmp_path, arrays, {"vocab": chars}), "no 'architecture'")
    load_error(write(tmp_path, arrays, {"vocab": "[", "architecture": arch}),
               "metadata 'vocab' is not valid JSON")
    load_error(write(tmp_path, arrays, {"vocab": json.dumps("ba"), "architecture": arch}),
               "distinct sorted characters")
    load_error(write(tmp_path, arrays, {"vocab": json.dumps("abc"), "architecture": arch}),
               "'vocab' has 3 characters, the model 7")


@pytest.mark.parametrize("change, match", [
    ({"cell": "transformer"}, "unknown architecture in the metadata: cell 'transformer'"),
    ({"dtype": "bfloat16"}, "unknown architecture.*dtype 'bfloat16'"),
    ({"heads": 8}, "unknown architecture in the metadata: keys"),
])
def test_an_unknown_architecture_is_named(tmp_path, change, match):
    model, _ = saved(tmp_path)
    arch = json.dumps(dict(architecture(model), **change))
    load_error(write(tmp_path, to_torch(model), {"vocab": json.dumps(CHARS),
                                                 "architecture": arch}), match)


@pytest.mark.parametrize("key, value", [("hidden_size", 6), ("num_layers", 1),
                                        ("embedding_size", 3), ("dtype", "float64")])
def test_an_architecture_the_arrays_dont_have_is_named(tmp_path, key, value):
    model, _ = saved(tmp_path)
    arch = json.dumps(dict(architecture(model), **{key: value}))
    path = write(tmp_path, to_torch(model), {"vocab": json.dumps(CHARS),
                                             "architecture": arch})
    load_error(path, f"has {key}={value!r}, the arrays have")


def test_arrays_that_dont_fit_are_named_with_the_file(tmp_path):
    model, path = saved(tmp_path, "lstm")
    with safetensors.safe_open(str(path), framework="np") as f:
        metadata = f.metadata()
    arrays = to_torch(model)
    del arrays["rnn.bias_hh_l1"]
    load_error(write(tmp_path, arrays, metadata), "missing key.*rnn.bias_hh_l1")
    gru = dict(metadata, architecture=metadata["architecture"].replace('"lstm"', '"gru"'))
    load_error(write(tmp_path, to_torch(model), gru), "should be 'gru', but the arrays are "
                                                      "shaped for a 'lstm'")

