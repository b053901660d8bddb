"""Keys and paths for cached results, and the one place that writes files.

A cache entry (under :func:`gdynbook.config.cache_dir`) is keyed by everything that
determines it: the input arrays, the parameters and the gdynbook version, so a new
release never reads stale results.

Every file gdynbook writes goes through :func:`atomic_path` (a temporary file in the
same folder, renamed into place when the block ends): an interrupted or failed write
never leaves a half-written file and never corrupts the one it replaces. The helpers
:func:`atomic_write_bytes`, :func:`atomic_write_json`, :func:`atomic_savez`,
:func:`atomic_torch_save`, :func:`atomic_savefig` and :func:`atomic_array_directory` (a
folder of ``.npy`` files, renamed into place whole) cover the formats we write; a test
keeps every other module from calling ``os.replace``, ``json.dump``, ``np.save``,
``np.savez``, ``torch.save`` or ``savefig`` itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from gdynbook import __version__
from gdynbook.config import cache_dir


def _update(digest: Any, value: Any) -> None:
    if isinstance(value, np.ndarray):
        shape = value.shape if value.ndim else (1,)  # as numpy.ascontiguousarray sees it
        digest.update(f"ndarray:{value.dtype.str}:{shape}".encode())
        # block by block along the first axis: the same bytes as value.tobytes(), without
        # a copy of the whole array (coordinates may be a memory map of many GB)
        if value.ndim == 0 or value.shape[0] == 0:
            digest.update(np.ascontiguousarray(value).tobytes())
        else:
            row_bytes = max(1, value[0].nbytes)
            step = max(1, (1 << 24) // row_bytes)
            for start in range(0, value.shape[0], step):
                digest.update(memoryview(np.ascontiguousarray(value[start : start + step])))
    elif isinstance(value, Mapping):
        digest.update(b"mapping:")
        for key in sorted(value):
            digest.update(str(key).encode())
            _update(digest, value[key])
    elif isinstance(value, (list, tuple)):
        digest.update(f"seq:{len(value)}:".encode())
        for item in value:
            _update(digest, item)
    else:
        digest.update(json.dumps(value, sort_keys=True, default=str).encode())


def cache_key(*parts: Any) -> str:
    """Return a hex digest identifying ``parts`` and the gdynbook version.

    Parameters
    ----------
    *parts
        numpy arrays, mappings, sequences and JSON-serialisable values.
    """
    digest = hashlib.sha256()
    digest.update(f"gdynbook-{__version__}".encode())
    for part in parts:
        _update(digest, part)
    return digest.hexdigest()[:32]


def cache_path(namespace: str, *parts: Any, suffix: str = ".npz") -> Path:
    """Return the cache file path for ``parts`` inside ``namespace``.

    The directory is created; the file may or may not exist yet.
    """
    directory = cache_dir() / namespace
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"{cache_key(*parts)}{suffix}"


# The process's umask, read once: files written through a temporary file get the mode a
# plain open() would give them (mkstemp alone makes them private, 0600).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path that replaces ``path`` when the block ends without an error.

    The temporary file lies in the same folder and keeps the suffix of ``path`` (so
    writers that infer a format from it still work). On an error it is removed and
    ``path`` is left as it was.

    Examples
    --------
    >>> with atomic_path("trajectory.xtc") as tmp:  # doctest: +SKIP
    ...     write_frames(tmp)
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=target.suffix, dir=target.parent
    )
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def _replacing(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary stream to a temporary file that replaces ``path`` when the block ends.

    The temporary file lies in the same directory, so the replacement is one atomic
    step: an interrupted write never leaves a truncated file, and on an error the
    temporary file is removed and ``path`` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        os.fchmod(handle, 0o666 & ~_UMASK)
        with os.fdopen(handle, "wb") as stream:
            yield stream
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def atomic_savez(
    path: str | os.PathLike[str], *, compress: bool = False, **arrays: np.ndarray
) -> Path:
    """Write ``arrays`` to an ``.npz`` file atomically.

    The name is used as given (numpy's ``.npz`` auto-suffix is not applied);
    ``compress`` uses ``numpy.savez_compressed``.
    """
    with _replacing(path) as stream:
        (np.savez_compressed if compress else np.savez)(stream, **arrays)
    return Path(path)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (a temporary file, then one rename)."""
    with _replacing(path) as stream:
        stream.write(data)
    return Path(path)


def atomic_write_json(path: str | os.PathLike[str], values: Any, indent: int = 2) -> Path:
    """Write ``values`` as JSON (UTF-8, a final newline) atomically."""
    text = json.dumps(values, indent=indent) + "\n"
    return atomic_write_bytes(path, text.encode())


def atomic_torch_save(payload: Any, path: str | os.PathLike[str]) -> Path:
    """``torch.save(payload)`` into ``path`` atomically."""
    import torch

    with _replacing(path) as stream:
        torch.save(payload, stream)
    return Path(path)


def atomic_savefig(figure: Any, path: str | os.PathLike[str], **kwargs: Any) -> Path:
    """Save a matplotlib figure atomically (default ``dpi=120, bbox_inches="tight"``).

    The format follows the suffix of ``path``.
    """
    options = {"dpi": 120, "bbox_inches": "tight", **kwargs}
    target = Path(path)
    options.setdefault("format", target.suffix.lstrip(".") or None)
    with atomic_path(target) as tmp:
        figure.savefig(tmp, **options)
    return target


def atomic_array_directory(
    path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]
) -> Path:
    """Write ``arrays`` as uncompressed ``NAME.npy`` files and ``meta`` as ``meta.json``
    into the folder ``path``, which appears whole or not at all.

    The files are written into a temporary folder beside ``path`` that is renamed into
    place at the end. ``.npy`` files can be opened as memory maps
    (``numpy.load(..., mmap_mode="r")``). If another process created ``path`` first (the
    same content, as the name is a cache key), its folder is kept and ours discarded.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        os.chmod(tmp, 0o777 & ~_UMASK)
        for name, values in arrays.items():
            with open(tmp / f"{name}.npy", "wb") as stream:
                np.lib.format.write_array(stream, np.ascontiguousarray(values))
        (tmp / "meta.json").write_text(json.dumps(dict(meta), indent=2) + "\n")
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "meta.json").is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another process wrote it first
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


class LockHeld(RuntimeError):
    """Another live process holds the lock (see :func:`exclusive_lock`)."""


@contextmanager
def exclusive_lock(path: str | os.PathLike[str], wait: bool = False) -> Iterator[Path]:
    """Hold an exclusive lock on the file ``path`` while the block runs: one process at a
    time. With ``wait``, block until the holder lets go instead of raising.

    The lock is the operating system's (``flock`` on an open descriptor): it ends when
    the block ends or the process dies, however it dies, so there is no stale lock to
    clean up. The file itself stays (it is reused) and names the holder — host and
    process id — for the error message. On a file system without locks (some network
    mounts) a warning says so and the block runs unguarded.

    Raises
    ------
    LockHeld
        If another process holds the lock (and ``wait`` is false).
    """
    import errno
    import fcntl
    import socket
    import warnings

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(target, os.O_CREAT | os.O_RDWR, 0o666 & ~_UMASK)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                warnings.warn(
                    f"cannot lock {target} ({error.strerror}): make sure no other process "
                    "works here at the same time.",
                    stacklevel=3,
                )
            else:
                holder = os.pread(handle, 200, 0).decode(errors="replace").split()
                who = f"process {holder[1]} on {holder[0]}" if len(holder) == 2 else "a process"
                raise LockHeld(
                    f"{target} is held by {who}: another process is working here. Wait for "
                    "it to finish (the lock ends with the process)."
                ) from None
        os.ftruncate(handle, 0)
        os.pwrite(handle, f"{socket.gethostname()} {os.getpid()}\n".encode(), 0)
        yield target
    finally:
        os.close(handle)  # releases the lock
