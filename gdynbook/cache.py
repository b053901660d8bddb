"""Keys and paths for cached results under :func:`gdynbook.config.cache_dir`.

A cache entry is keyed by everything that determines it: the input arrays, the
parameters and the gdynbook version, so a new release never reads stale results.
"""

from __future__ import annotations

import hashlib
import json
import os
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
        array = np.ascontiguousarray(value)
        digest.update(f"ndarray:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.tobytes())
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
