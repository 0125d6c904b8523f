"""keep_freed_memory: in a fresh process, glibc's malloc really serves and keeps large blocks
from the heap afterwards (and not before); elsewhere it reports False and touches nothing."""
import ctypes
import json
import platform
import subprocess
import sys

import pytest

from tinygrad_rnn import allocator

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
MALLINFO2 = GLIBC and hasattr(ctypes.CDLL("libc.so.6"), "mallinfo2")  # glibc 2.33 and later

# Asks glibc itself (mallinfo2) where an 8 MB block came from and whether its memory stays.
PROBE = """
import ctypes, json, sys
from tinygrad_rnn.allocator import keep_freed_memory

class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks",
                "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
applied = [keep_freed_memory() for _ in range(int(sys.argv[1]))]
size = 8 << 20
block = libc.malloc(size)
mapped = libc.mallinfo2().hblkhd >= size  # a block of its own, unmapped when freed
libc.free(block)
kept = libc.mallinfo2().arena >= size  # the heap still holds the freed block
print(json.dumps({"applied": applied, "mapped": mapped, "kept": kept}))
"""


def probe(calls):
    done = subprocess.run([sys.executable, "-c", PROBE, str(calls)], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout)


@pytest.mark.skipif(not MALLINFO2, reason="needs glibc 2.33 or later (mallinfo2)")
def test_large_blocks_come_from_the_heap_and_stay_once_applied():
    assert probe(0) == {"applied": [], "mapped": True, "kept": False}  # glibc's defaults
    assert probe(1) == {"applied": [True], "mapped": False, "kept": True}
    assert probe(2) == {"applied": [True, True], "mapped": False, "kept": True}  # idempotent


def test_without_glibc_it_reports_false_and_loads_nothing(monkeypatch):
    def must_not_load(*args, **kwargs):
        raise AssertionError("keep_freed_memory loaded a C library on a system without glibc")

    monkeypatch.setattr(platform, "libc_ver", lambda *args, **kwargs: ("", ""))
    monkeypatch.setattr(ctypes, "CDLL", must_not_load)
    assert allocator.keep_freed_memory() is False
