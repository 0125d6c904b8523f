import platform

import numpy as np
import pytest

from tinygrad_rnn.allocator import keep_freed_memory


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="mallopt is glibc's")
def test_glibc_takes_the_thresholds_and_arrays_still_work():
    assert keep_freed_memory() is True
    assert keep_freed_memory() is True  # a second call changes nothing
    big = np.ones((1024, 1024))  # 8 MB: below the raised mmap threshold, from the heap now
    assert big.sum() == 1024 * 1024


def test_without_glibc_it_reports_false_and_changes_nothing(monkeypatch):
    import ctypes

    def no_libc(*args, **kwargs):
        raise OSError("no C library here")

    monkeypatch.setattr(ctypes, "CDLL", no_libc)
    assert keep_freed_memory() is False
