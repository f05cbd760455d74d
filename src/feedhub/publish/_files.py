"""Write published files atomically, leaving unchanged ones alone. No business logic."""

from __future__ import annotations

import contextlib
import os
import tempfile

from feedhub.exceptions import PublishError


def write_atomic(
    path: str | os.PathLike[str], data: bytes, *, durable: bool = True
) -> bool:
    """Replace the file at ``path`` with ``data`` atomically.

    Writes a temporary file in the same directory, fsyncs it and renames it
    over ``path``, so readers see the old or the new file, never half of one.
    Missing parent directories are created.

    Args:
        path: the file to write.
        data: its new contents.
        durable: fsync the file and its directory, so the new contents
            survive a crash; without it the rename is still atomic.

    Returns:
        True when the file was written, False when it already had these bytes.

    Raises:
        PublishError: the file could not be read or written.
    """
    target = os.path.abspath(os.fspath(path))
    try:
        mode = 0o644
        try:
            st = os.stat(target)
        except FileNotFoundError:
            pass
        else:
            mode = st.st_mode & 0o777
            if st.st_size == len(data):
                with open(target, "rb") as existing:
                    if existing.read() == data:
                        return False
        directory = os.path.dirname(target)
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=directory
        )
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                if durable:
                    os.fsync(out.fileno())
            # mkstemp creates 0600; keep the old file's mode or use 0644.
            os.chmod(tmp, mode)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        if durable:
            _fsync_dir(directory)
    except OSError as e:
        raise PublishError(f"publish: cannot write {target}: {e}") from e
    return True


def _fsync_dir(directory: str) -> None:
    """Persist the rename itself (POSIX: the entry lives in the directory)."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
