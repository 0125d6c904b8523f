"""Text in, integer batches out: the vocabulary, the train/validation split, and the batches that
truncated backpropagation through time (BPTT) trains on.

How the batches are cut (as in char-rnn). The training text, as ids c_0 .. c_N, is cut into B
contiguous streams of L = N // B characters; row b of a batch continues where row b of the previous
batch stopped, so the hidden state the model ends a chunk with is the right one to start the next:

    stream b:  c_{bL} c_{bL+1} ... c_{bL+L-1}       (inputs)
               c_{bL+1}        ... c_{bL+L}         (targets: the next character)

Step k takes columns kT .. kT+T-1 of every stream, so a pass over the data is L // T steps. The
few characters that don't fill a whole chunk are left out of training.

The validation text is read in order, all of it, to score the model on every one of its
characters; `validation_chunks` cuts it into a few streams only so that the model sees a larger
batch (fewer, bigger matrix products) and carries the hidden state across chunks, as in training.

The packaged corpus sits in corpus/ next to this file.
"""
import gzip
import importlib.resources

import numpy as np

DEFAULT_CORPUS = "tinyshakespeare.txt.gz"
ALL_ROWS, LAST_ROW = slice(None), slice(-1, None)  # which streams a validation chunk continues


class DataError(ValueError):
    """The text can't be used: missing, empty, not UTF-8 text, too short, unknown character."""


def load_text(path=None):
    """The text of the UTF-8 file at `path`, or the packaged tinyshakespeare when `path` is None."""
    if path is None:
        resource = importlib.resources.files(__package__) / "corpus" / DEFAULT_CORPUS
        return gzip.decompress(resource.read_bytes()).decode("utf-8")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not a text file") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read it ({err.strerror})") from None
    if not raw:
        raise DataError(f"{path}: the file is empty")
    if b"\0" in raw:
        raise DataError(f"{path}: looks like a binary file (it contains NUL bytes), not text")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text (byte 0x{raw[err.start]:02x} at offset "
                        f"{err.start})") from None


class Vocab:
    """The characters a model knows, sorted; a character's id is its position in that order."""

    def __init__(self, chars):
        chars = "".join(chars)
        if not chars:
            raise DataError("a vocabulary needs at least one character")
        if list(chars) != sorted(set(chars)):
            raise DataError("a vocabulary's characters must be distinct and sorted")
        self.chars = chars
        self.index = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text):
        return cls(sorted(set(text)))

    def __len__(self):
        return len(self.chars)

    def __contains__(self, char):
        return char in self.index

    def __eq__(self, other):
        return isinstance(other, Vocab) and self.chars == other.chars

    def __repr__(self):
        return f"Vocab({self.chars!r})"

    def encode(self, text):
        """The ids of the characters of `text`, as an int64 array."""
        try:
            return np.array([self.index[c] for c in text], dtype=np.int64)
        except KeyError as err:
            char = err.args[0]
            raise DataError(f"character {char!r} (U+{ord(char):04X}) is not in the vocabulary "
                            f"of {len(self)} characters") from None

    def decode(self, ids):
        """The text of a sequence of ids."""
        return "".join(self.chars[i] for i in np.asarray(ids).reshape(-1))


class Batches:
    """One pass of (inputs, targets) chunks, each (batch_size, seq_len), for truncated BPTT."""

    def __init__(self, ids, batch_size, seq_len):
        length = (len(ids) - 1) // batch_size  # characters per stream
        if length < seq_len:
            raise DataError(f"the training text has {len(ids)} characters, too short for one batch "
                            f"of {batch_size} streams x {seq_len} characters (it needs at least "
                            f"{batch_size * seq_len + 1}); use a longer text or smaller "
                            f"--batch-size/--seq-len")
        self.inputs = ids[:batch_size * length].reshape(batch_size, length)
        self.targets = ids[1:batch_size * length + 1].reshape(batch_size, length)
        self.seq_len = seq_len

    def __len__(self):
        return self.inputs.shape[1] // self.seq_len

    def __getitem__(self, k):
        if not 0 <= k < len(self):
            raise IndexError(f"chunk {k} of a pass of {len(self)}")
        cols = slice(k * self.seq_len, (k + 1) * self.seq_len)
        return self.inputs[:, cols], self.targets[:, cols]


class CharDataset:
    """A text, its vocabulary, and its split: the first part to train on, the last to validate.

    `vocab` defaults to the sorted characters of the whole text, so that every validation
    character has an id; pass a model's own vocabulary (a Vocab, or the string of its sorted
    characters, as a checkpoint keeps it) to read new text with it.
    """

    def __init__(self, text, val_fraction=0.1, vocab=None):
        if not 0 < val_fraction < 1:
            raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
        if len(text) < 4:
            raise DataError(f"the text has {len(text)} characters; it needs a few more to split "
                            "into training and validation parts")
        if vocab is None:
            vocab = Vocab.from_text(text)
        elif isinstance(vocab, str):
            vocab = Vocab(vocab)
        elif not isinstance(vocab, Vocab):
            raise TypeError(f"vocab must be a Vocab or a string of its characters, got "
                            f"{type(vocab).__name__}")
        self.vocab = vocab
        ids = self.vocab.encode(text)
        split = min(len(ids) - 2, round(len(ids) * (1 - val_fraction)))
        self.train_ids, self.val_ids = ids[:split], ids[split:]

    def batches(self, batch_size, seq_len):
        """The training text as one pass of `Batches`; a pass is `len()` steps."""
        return Batches(self.train_ids, batch_size, seq_len)

    def validation_chunks(self, streams=16, seq_len=256):
        """Every validation character's (input, target) pair once, in order, as chunks.

        Yields `(inputs, targets, carried)`. The P = len(val_ids) - 1 pairs are cut into S
        streams of P // S and read `seq_len` columns at a time, the hidden state carried from
        chunk to chunk. The remaining P mod S pairs continue the last stream, so their chunk is a
        single row that starts from that stream's final hidden state. `carried` indexes the rows
        (streams) of the previous chunk's final state that this chunk starts from: every row
        (`slice(None)`) for the S-stream chunks, the last one (`slice(-1, None)`) for the rest.
        """
        ids = self.val_ids
        pairs = len(ids) - 1
        streams = max(1, min(streams, pairs // seq_len))
        length = pairs // streams
        inputs = ids[:streams * length].reshape(streams, length)
        targets = ids[1:streams * length + 1].reshape(streams, length)
        for start in range(0, length, seq_len):
            yield inputs[:, start:start + seq_len], targets[:, start:start + seq_len], ALL_ROWS
        rest = slice(streams * length, pairs)
        if rest.start < rest.stop:
            yield ids[rest][None, :], ids[rest.start + 1:pairs + 1][None, :], LAST_ROW
