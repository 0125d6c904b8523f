"""The char-RNN application: train a CharRNN on a text, evaluate it, save and resume it.

    config.py      the run's settings (TrainSettings), where it stands (RunState), its schedule
    data.py        text in, batches out: Vocab, CharDataset, Batches, load_text
    train.py       the training loop: train(), train_step()
    carry.py       the model state carried from chunk to chunk
    evaluate.py    the validation loss, the sample at each evaluation, the divergence check
    checkpoint.py  the .npz checkpoint: atomic saves, refusals, load_model()
    resume.py      a run into a checkpoint and back
    console.py     the progress bar, the log lines, Ctrl-C

`tinygrad_rnn.train` is `train.train`; the command line is tinygrad_rnn/cli.py.
"""
