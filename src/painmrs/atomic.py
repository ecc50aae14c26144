"""Atomic file writes: write to a temporary file beside the target, then rename.

A run killed mid-write leaves either the old file or the new one, never a partial file. The
temporary file of a killed write (``.<name>.<host>.<pid>.<random>.tmp``) is removed by the next
write of the same target on the same host, once its process is gone (tests/test_fault_sigkill.py).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import glob
import os
import socket
import tempfile
from pathlib import Path

_UMASK = os.umask(0)
os.umask(_UMASK)


_HOST = socket.gethostname().replace(".", "-").replace(os.sep, "-")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete temporary files left beside ``path`` by killed writes of ``path``: only those
    written on this host by a process that no longer runs (a live writer, or one on another
    node of a shared file system, is never touched). Returns the removed files."""
    path = Path(path)
    removed = []
    pattern = os.path.join(glob.escape(str(path.parent)), f".{glob.escape(path.name)}.{glob.escape(_HOST)}.*.tmp")
    for tmp in glob.glob(pattern):
        pid = Path(tmp).name[len(f".{path.name}.{_HOST}."):].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
                removed.append(Path(tmp))
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path in the target's directory; rename it onto ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{_HOST}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    # mkstemp creates 0600; results are shared (HPC group folders), so use the normal
    # umask-derived mode a plain open() would give.
    os.chmod(tmp, 0o666 & ~_UMASK)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def gzip_bytes(data: bytes) -> bytes:
    """Deterministic gzip: no file name and mtime 0 in the header, so reruns are byte-identical."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=6) as gz:
        gz.write(data)
    return buf.getvalue()
