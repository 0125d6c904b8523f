"""Writing a file atomically: the old file or the new one, never a half-written mix.

The data goes to a temporary file in the same folder (".NAME.XXXX.tmp"), is flushed to disk
(fsync) and renamed over the target with `os.replace`, which happens entirely or not at all; then
the folder itself is synced so that the rename survives a power cut. A writer killed mid-write
leaves only its hidden temporary file, which the next write to the same path removes.
"""
import contextlib
import os
import tempfile


def write_atomically(path, write):
    """Call `write(f)` on a binary file that becomes `path` only once it is complete.

    An OSError (disk full, read-only folder) propagates with `path` left as it was and the
    temporary file removed; so does anything else `write` raises.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    prefix = "." + os.path.basename(path) + "."
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise
    _fsync_folder(folder)
    _remove_leftovers(folder, prefix)


def _remove_leftovers(folder, prefix):
    """Delete, as far as possible, the temporary files of earlier writes to this path that were
    killed mid-write: `prefix` + mkstemp's random part (no dot) + ".tmp", so that the leftovers
    of "m.npz.bak" (".m.npz.bak.XXXX.tmp") are not taken for those of "m.npz". This assumes one
    process at a time writes to a path, as a training run does."""
    with contextlib.suppress(OSError):
        for name in os.listdir(folder):
            if name.startswith(prefix) and name.endswith(".tmp") and \
                    "." not in name[len(prefix):-len(".tmp")]:
                os.unlink(os.path.join(folder, name))


def _fsync_folder(folder):
    """Make the rename itself durable (POSIX); a no-op where folders can't be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
