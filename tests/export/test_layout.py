"""to_torch and from_torch without PyTorch: PyTorch's names and shapes, the identity on the model's
function, and a one-line error naming the key for every state_dict that doesn't fit."""
import sys

import numpy as np
import pytest

from tinygrad_rnn.export import (ExportError, from_torch, load_safetensors, save_safetensors,
                                 to_torch)
from tinygrad_rnn.nn import CharRNN

V, E, H = 7, 4, 5
CELLS = {"rnn": 1, "lstm": 4, "gru": 3}  # gate blocks per cell (PyTorch: 1, 4, 3)


class Chars:
    """A vocabulary as the export sees one: anything with `.chars`."""

    def __init__(self, chars):
        self.chars = chars


def model_of(cell, layers=1, dtype=np.float64, embedding_size=E, seed=0):
    return CharRNN(V, H, layers, cell=cell, embedding_size=embedding_size, dtype=dtype,
                   rng=np.random.default_rng(seed))


def logits_over_two_chunks(model, seed=1):
    """Logits of two consecutive chunks, the state carried from the first into the second."""
    ids = np.random.default_rng(seed).integers(0, V, size=(3, 12))
    first, state = model(ids[:, :6])
    second, _ = model(ids[:, 6:], state)
    return np.concatenate([first.data, second.data], axis=1)


def pytorch_names_and_shapes(cell, layers, embedding):
    """What nn.Embedding, nn.RNN/LSTM/GRU(batch_first=True) and nn.Linear list, written out."""
    gH = CELLS[cell] * H
    shapes = {"embedding.weight": (V, embedding)}
    for k in range(layers):
        shapes.update({f"rnn.weight_ih_l{k}": (gH, embedding if k == 0 else H),
                       f"rnn.weight_hh_l{k}": (gH, H), f"rnn.bias_ih_l{k}": (gH,),
                       f"rnn.bias_hh_l{k}": (gH,)})
    shapes.update({"head.weight": (V, H), "head.bias": (V,)})
    return list(shapes.items())


@pytest.mark.parametrize("embedding_size", [E, None], ids=["embedding", "one-hot"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell", list(CELLS))
def test_to_torch_has_pytorchs_names_shapes_and_order(cell, layers, embedding_size):
    exported = to_torch(model_of(cell, layers, embedding_size=embedding_size))
    got = [(name, value.shape) for name, value in exported.items()]
    assert got == pytorch_names_and_shapes(cell, layers, embedding_size or V)
    assert all(value.flags.c_contiguous and value.dtype == np.float64
               for value in exported.values())


@pytest.mark.parametrize("cell", list(CELLS))
def test_to_torch_transposes_the_matrices_and_splits_the_bias(cell):
    model = model_of(cell, layers=2)
    ours, exported = model.state_dict(), to_torch(model)
    for k in range(2):
        layer = f"rnn.layers.{k}."
        np.testing.assert_array_equal(exported[f"rnn.weight_ih_l{k}"], ours[layer + "weight_xh"].T)
        np.testing.assert_array_equal(exported[f"rnn.weight_hh_l{k}"], ours[layer + "weight_hh"].T)
        if cell == "gru":  # b_hn is inside r * (h W_hn + b_hn): the two biases stay apart
            np.testing.assert_array_equal(exported[f"rnn.bias_ih_l{k}"], ours[layer + "bias_xh"])
            np.testing.assert_array_equal(exported[f"rnn.bias_hh_l{k}"], ours[layer + "bias_hh"])
        else:  # PyTorch adds b_ih + b_hh before any nonlinearity: all of it in one of them
            np.testing.assert_array_equal(exported[f"rnn.bias_ih_l{k}"], ours[layer + "bias"])
            assert not exported[f"rnn.bias_hh_l{k}"].any()
    np.testing.assert_array_equal(exported["head.weight"], ours["head.weight"].T)
    np.testing.assert_array_equal(exported["embedding.weight"], ours["embedding.weight"])


def test_the_one_hot_form_exports_the_identity_as_embedding():
    exported = to_torch(model_of("lstm", embedding_size=None, dtype=np.float32))
    np.testing.assert_array_equal(exported["embedding.weight"], np.eye(V, dtype=np.float32))


@pytest.mark.parametrize("embedding_size", [E, None], ids=["embedding", "one-hot"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell", list(CELLS))
def test_to_torch_then_from_torch_is_the_identity_on_the_function(cell, layers, dtype,
                                                                  embedding_size):
    model = model_of(cell, layers, dtype, embedding_size)
    back = from_torch(to_torch(model), Chars("abcdefg"))
    assert back.config() == dict(model.config(), embedding_size=embedding_size or V)
    assert back.vocab.chars == "abcdefg"
    # the same numbers in the same products; the one-hot form adds only exact zeros
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(logits_over_two_chunks(back), logits_over_two_chunks(model),
                               rtol=tol, atol=tol)
    assert logits_over_two_chunks(back).dtype == dtype


def test_from_torch_reads_tensor_like_values_without_importing_torch():
    class FakeTensor:  # the methods of a torch tensor that from_torch may call
        def __init__(self, array):
            self.array = array

        def detach(self):
            return self

        def cpu(self):
            return self

        def numpy(self):
            return self.array

    model = model_of("gru")
    back = from_torch({k: FakeTensor(v) for k, v in to_torch(model).items()}, None)
    assert back.vocab is None
    np.testing.assert_allclose(logits_over_two_chunks(back), logits_over_two_chunks(model),
                               rtol=1e-13)


def test_the_cell_asked_for_is_checked_against_the_shapes():
    exported = to_torch(model_of("lstm"))
    assert from_torch(exported, None, cell="lstm").config()["cell"] == "lstm"
    one_line_error(exported, "should be 'gru', but the arrays are shaped for a 'lstm'",
                   cell="gru")


def one_line_error(state_dict, match, vocab=None, **options):
    with pytest.raises(ExportError, match=match) as caught:
        from_torch(state_dict, vocab, **options)
    assert "\n" not in str(caught.value)
    return str(caught.value)


def exported_rnn(**changes):
    state = to_torch(model_of("rnn", layers=2))
    for name, value in changes.items():
        name = name.replace("__", ".")
        if value is None:
            del state[name]
        else:
            state[name] = value
    return state


def test_a_missing_key_is_named():
    one_line_error(exported_rnn(rnn__bias_hh_l1=None), "missing key.*'?rnn.bias_hh_l1")
    one_line_error({}, "missing key.*embedding.weight")


def test_an_unexpected_key_is_named():
    bidirectional = dict(exported_rnn(), **{"rnn.weight_ih_l0_reverse": np.zeros((H, E))})
    one_line_error(bidirectional, "unexpected key.*rnn.weight_ih_l0_reverse")
    gap = exported_rnn()
    gap["rnn.weight_ih_l3"] = gap["rnn.weight_ih_l1"]  # layer 2 is missing: l3 belongs nowhere
    one_line_error(gap, "unexpected key.*rnn.weight_ih_l3")


def test_a_wrong_shape_is_named_with_the_expected_one():
    message = one_line_error(exported_rnn(head__bias=np.zeros(V + 1)), "'head.bias'")
    assert f"({V + 1},)" in message and f"({V},)" in message
    one_line_error(exported_rnn(rnn__weight_ih_l1=np.zeros((H, E))), "'rnn.weight_ih_l1'")
    one_line_error(exported_rnn(rnn__weight_hh_l0=np.zeros((2 * H, H))),
                   "'rnn.weight_hh_l0'.*1, 4 or 3 times")
    one_line_error(exported_rnn(embedding__weight=np.zeros(V)), "'embedding.weight'.*2 dim")


def test_a_wrong_dtype_is_named():
    state = exported_rnn()
    state["rnn.bias_ih_l1"] = state["rnn.bias_ih_l1"].astype(np.float32)
    one_line_error(state, "'rnn.bias_ih_l1' is float32.*same dtype")
    half = {name: value.astype(np.float16) for name, value in exported_rnn().items()}
    one_line_error(half, "'embedding.weight' is float16; expected float32 or float64")


def test_nan_or_inf_values_are_named():
    state = exported_rnn()
    state["rnn.weight_hh_l1"][2, 3] = np.nan
    one_line_error(state, "'rnn.weight_hh_l1' holds NaN or Inf")
    one_line_error(exported_rnn(head__bias=np.full(V, np.inf)), "'head.bias' holds NaN or Inf")


def test_a_vocabulary_of_the_wrong_size_is_refused():
    one_line_error(exported_rnn(), f"3 characters, 'embedding.weight' has {V} rows",
                   vocab=Chars("abc"))


def test_without_safetensors_the_files_name_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors", None)  # import safetensors now fails
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    model = model_of("rnn")
    model.vocab = Chars("abcdefg")
    extra = 'safetensors package: pip install "tinygrad-rnn\\[safetensors\\]"'
    with pytest.raises(ExportError, match=extra):
        save_safetensors(model, tmp_path / "m.safetensors")
    with pytest.raises(ExportError, match=extra):
        load_safetensors(tmp_path / "m.safetensors")
    assert not list(tmp_path.iterdir())
