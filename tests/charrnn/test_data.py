import hashlib

import numpy as np
import pytest

from tinygrad_rnn.charrnn.data import Batches, CharDataset, DataError, Vocab, load_text


def test_default_corpus_is_tinyshakespeare():
    text = load_text()
    assert len(text) == 1_115_394
    assert text.startswith("First Citizen:")
    assert hashlib.sha256(text.encode()).hexdigest() == (
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed")


def test_load_text_reads_utf8(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("héllo\nwörld", encoding="utf-8")
    assert load_text(path) == "héllo\nwörld"


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"ab\0cd", "binary"),
    (b"abc \xff\xfe def", "not UTF-8 text (byte 0xff at offset 4)"),
])
def test_load_text_refuses_unusable_files(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_text(path)


def test_load_text_names_a_missing_file(tmp_path):
    with pytest.raises(DataError, match="nope.txt: no such file"):
        load_text(tmp_path / "nope.txt")
    with pytest.raises(DataError, match="is a directory"):
        load_text(tmp_path)


def test_vocab_is_the_sorted_characters_and_round_trips():
    vocab = Vocab.from_text("hello, world")
    assert vocab.chars == " ,dehlorw"
    ids = vocab.encode("world, hello")
    assert ids.dtype == np.int64 and list(ids[:2]) == [8, 6]
    assert vocab.decode(ids) == "world, hello"
    assert Vocab(vocab.chars) == vocab


def test_vocab_names_an_unknown_character():
    with pytest.raises(DataError, match=r"character 'Z' \(U\+005A\) is not in the vocabulary"):
        Vocab.from_text("abc").encode("aZ")


def test_vocab_must_be_sorted_and_distinct():
    with pytest.raises(DataError):
        Vocab("ba")
    with pytest.raises(DataError):
        Vocab("aab")


def test_dataset_holds_out_the_last_tenth():
    text = "".join(chr(97 + i % 26) for i in range(1000))
    data = CharDataset(text)
    assert len(data.train_ids) == 900 and len(data.val_ids) == 100
    assert data.vocab.decode(data.val_ids) == text[900:]
    with pytest.raises(ValueError, match="val_fraction"):
        CharDataset(text, val_fraction=0)


def test_batches_are_contiguous_streams_with_targets_shifted_by_one():
    ids = np.arange(101)
    batches = Batches(ids, batch_size=4, seq_len=6)  # 4 streams of 25, 4 chunks of 6
    assert len(batches) == 4
    x0, y0 = batches[0]
    x1, _ = batches[1]
    assert x0.shape == (4, 6)
    np.testing.assert_array_equal(x0[:, 0], [0, 25, 50, 75])  # each row starts its own stream
    np.testing.assert_array_equal(y0, x0 + 1)  # the target is the next character
    np.testing.assert_array_equal(x1[:, 0], x0[:, -1] + 1)  # row b continues where it stopped
    with pytest.raises(IndexError):
        batches[4]


def test_too_short_a_text_for_one_batch_is_a_clear_error():
    with pytest.raises(DataError, match="too short for one batch of 4 streams x 8 characters"):
        Batches(np.arange(30), batch_size=4, seq_len=8)


def test_validation_chunks_score_every_character_once_in_order():
    text = "".join(chr(97 + (i * 7) % 26) for i in range(1000))
    data = CharDataset(text, val_fraction=0.3)
    rows, carries = [], []
    for inputs, targets, carried in data.validation_chunks(streams=4, seq_len=16):
        np.testing.assert_array_equal(inputs.shape, targets.shape)
        rows.append((inputs, targets))
        carries.append(carried)
    # the leftover pairs continue the last stream only; every other chunk continues all four
    assert carries == [slice(None)] * (len(rows) - 1) + [slice(-1, None)]
    assert [len(range(4)[c]) for c in carries] == [x.shape[0] for x, _ in rows]
    streams = np.concatenate([x for x, _ in rows[:-1]], axis=1)
    read = np.concatenate([streams.reshape(-1), rows[-1][0][0]])
    np.testing.assert_array_equal(read, data.val_ids[:-1])
    targets = np.concatenate([np.concatenate([y for _, y in rows[:-1]], axis=1).reshape(-1),
                              rows[-1][1][0]])
    np.testing.assert_array_equal(targets, data.val_ids[1:])


def test_a_dataset_takes_a_vocab_or_the_string_of_its_characters():
    text = "hello world, hello"
    as_string = CharDataset(text, vocab=" ,dehlorw")
    assert as_string.vocab == Vocab.from_text(text)
    assert np.array_equal(as_string.train_ids, CharDataset(text).train_ids)
    with pytest.raises(TypeError, match="vocab must be a Vocab or a string of its characters, "
                                        "got list"):
        CharDataset(text, vocab=list(" ,dehlorw"))
    with pytest.raises(DataError, match="distinct and sorted"):
        CharDataset(text, vocab="hello")
