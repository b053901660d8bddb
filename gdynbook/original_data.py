"""The original GDyNets data (Materials Cloud Archive, doi:10.24435/materialscloud:2019.0017).

Xie et al. published the trajectories behind their paper as GDyNets ``traj.npz`` files:
``traj_coords`` (frames, atoms, 3) Å, ``lattices`` (frames, 3, 3) with lattice vectors as
rows, ``atom_types`` (atomic numbers) and 0-based ``target_index``. The files store no
time between frames: :data:`ORIGINAL_FILES` says which to pass where the source states
it. Sizes and checksums could not be confirmed from here (the archive's file table was
not reachable); for such an entry :func:`download_original` checks the format and the
shapes instead of a checksum, and says so.

Nothing in the book's build or tests downloads these files: the appendix chapter runs
its heavy cells only when the files are present (``$GDYNBOOK_ORIGINAL_DATA`` or
``~/gdynets-data``), and the downloader is tested on a local file.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Environment variable naming the folder that holds (or receives) the original files.
DATA_ENV = "GDYNBOOK_ORIGINAL_DATA"

#: The record's DOI (version 1, as linked by the original code's data README).
RECORD_DOI = "10.24435/materialscloud:2019.0017/v1"

_BASE_URL = "https://archive.materialscloud.org/file/2019.0017/v1/"


@dataclass(frozen=True)
class OriginalFile:
    """One file of the record.

    Attributes
    ----------
    name : str
    url : str
        Direct download URL (the record's v1 file pattern).
    description : str
    time_step_ps : float or None
        Time between frames where the source states it (None: pass it yourself).
    size_bytes, sha256 : int or None, str or None
        Known size and checksum (None: not confirmed; the format is checked instead).
    confirmed : str
        Where the entry's facts come from, and what is not confirmed.
    """

    name: str
    url: str
    description: str
    time_step_ps: float | None = None
    size_bytes: int | None = None
    sha256: str | None = None
    confirmed: str = ""


def _entry(name: str, description: str, time_step_ps: float | None, note: str) -> OriginalFile:
    return OriginalFile(name, _BASE_URL + name, description, time_step_ps, None, None, note)


_NAMES = "file names from the record's README; URL pattern of the v1 record"
#: The record's trajectory files. Size and sha256 are unconfirmed for all of them.
ORIGINAL_FILES: dict[str, OriginalFile] = {
    "li2s-traj.npz": _entry(
        "li2s-traj.npz",
        "Li in an fcc S lattice (the toy system), one Li target",
        0.1,
        f"{_NAMES}; 0.1 ps between frames from the original notebook (τ = 100 frames = "
        "0.01 ns); size and checksum not confirmed",
    ),
    "siau-traj.npz": _entry(
        "siau-traj.npz",
        "Si–Au binary system",
        None,
        f"{_NAMES}; time step, size and checksum not confirmed",
    ),
    **{
        f"peo-traj-{part}.npz": _entry(
            f"peo-traj-{part}.npz",
            f"PEO/LiTFSI polymer electrolyte, independent trajectory {part}",
            None,
            f"{_NAMES}; time step, size and checksum not confirmed",
        )
        for part in "abcde"
    },
}

_KEYS = ("traj_coords", "lattices", "atom_types", "target_index")


class OriginalDataError(ValueError):
    """A downloaded file is not what the table says (names the problem and the fix)."""


def data_folder() -> Path:
    """Where the original files are kept: ``$GDYNBOOK_ORIGINAL_DATA`` or ``~/gdynets-data``."""
    return Path(os.environ.get(DATA_ENV, Path.home() / "gdynets-data")).expanduser()


def available(names: list[str] | None = None, folder: Path | str | None = None) -> list[str]:
    """Which of ``names`` (default all) are present in ``folder`` (default :func:`data_folder`)."""
    where = Path(folder) if folder is not None else data_folder()
    return [n for n in (names or list(ORIGINAL_FILES)) if (where / n).is_file()]


def check_format(path: Path | str) -> dict[str, tuple[int, ...]]:
    """Check that ``path`` is a GDyNets traj.npz with consistent shapes; return them.

    Raises
    ------
    OriginalDataError
        For a missing key or shapes that do not fit together.
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in _KEYS if key not in archive.files]
            if missing:
                raise OriginalDataError(
                    f"{path} is not a GDyNets traj.npz: keys {missing} are missing."
                )
            shapes = {key: tuple(archive[key].shape) for key in _KEYS}
            targets = archive["target_index"]
    except OriginalDataError:
        raise
    except Exception as exc:  # noqa: BLE001 - a truncated download fails in many ways
        raise OriginalDataError(
            f"{path} cannot be read as an .npz archive ({type(exc).__name__}: {exc}): the "
            "download is incomplete or not the file; delete it and download again."
        ) from exc
    frames, atoms, three = (shapes["traj_coords"] + (0, 0, 0))[:3]
    problems = []
    if len(shapes["traj_coords"]) != 3 or three != 3:
        problems.append(f"traj_coords has shape {shapes['traj_coords']}, not (frames, atoms, 3)")
    if shapes["lattices"] not in ((frames, 3, 3), (3, 3)):
        problems.append(f"lattices has shape {shapes['lattices']}, not ({frames}, 3, 3)")
    if shapes["atom_types"] != (atoms,):
        problems.append(f"atom_types has shape {shapes['atom_types']}, not ({atoms},)")
    if targets.size and (targets.min() < 0 or targets.max() >= atoms):
        problems.append("target_index holds indices outside the atoms")
    if problems:
        raise OriginalDataError(f"{path}: " + "; ".join(problems) + ".")
    return shapes


def download_original(
    name: str,
    folder: Path | str | None = None,
    url: str | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> Path:
    """Download one file of :data:`ORIGINAL_FILES` into ``folder`` and check it.

    The size and sha256 are checked where the table knows them; otherwise the file must
    be a GDyNets traj.npz with consistent shapes (:func:`check_format`). A download that
    fails is never kept (a partial one never takes the file's name); a file already in
    the folder that fails is reported, not deleted.

    Parameters
    ----------
    name : str
        A key of :data:`ORIGINAL_FILES`.
    folder : path, optional
        Default :func:`data_folder`.
    url : str, optional
        Another source (a mirror, or a ``file://`` URL for testing).
    overwrite : bool
        Download again even if the file exists (it is checked either way).

    Raises
    ------
    KeyError
        For a name not in the table.
    OriginalDataError
        When the download is not the file the table describes.
    """
    from tqdm.auto import tqdm

    from gdynbook.cache import atomic_path

    if name not in ORIGINAL_FILES:
        raise KeyError(f"{name!r} is not a file of the record; known: {sorted(ORIGINAL_FILES)}.")
    entry = ORIGINAL_FILES[name]
    target = (Path(folder) if folder is not None else data_folder()) / name
    if not target.is_file() or overwrite:
        with atomic_path(target) as tmp, urllib.request.urlopen(url or entry.url) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with (
                open(tmp, "wb") as stream,
                tqdm(
                    total=total, unit="B", unit_scale=True, desc=name, disable=not progress
                ) as bar,
            ):
                while chunk := response.read(1 << 20):
                    stream.write(chunk)
                    bar.update(len(chunk))
            _verify(entry, tmp)
    else:
        _verify(entry, target)
    return target


def _verify(entry: OriginalFile, path: Path) -> None:
    if entry.size_bytes is not None and path.stat().st_size != entry.size_bytes:
        raise OriginalDataError(
            f"{entry.name}: {path.stat().st_size} bytes, expected {entry.size_bytes}: the "
            "download is incomplete; try again."
        )
    if entry.sha256 is not None:
        digest = hashlib.sha256()
        with open(path, "rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
        if digest.hexdigest() != entry.sha256:
            raise OriginalDataError(
                f"{entry.name}: sha256 {digest.hexdigest()} differs from the table's "
                f"{entry.sha256}: the file is corrupt or another version; download again."
            )
    check_format(path)
