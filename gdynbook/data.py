"""Find files shipped with gdynbook (small data sets and pretrained weights).

The files live in ``data/`` at the top of the repository. An editable install
(``pip install -e .``) reads them from there; a wheel carries a copy as
``gdynbook/_data`` (hatchling ``force-include``). Chapters call :func:`path` and
never use relative paths such as ``../data``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir() -> Path:
    """Return the directory that holds the shipped data files.

    Raises
    ------
    FileNotFoundError
        If neither the wheel copy nor the checkout's ``data/`` exists.
    """
    candidates = [_PACKAGE_DIR / "_data", _PACKAGE_DIR.parent / "data"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        "gdynbook's shipped data directory was not found (looked in "
        + ", ".join(str(c) for c in candidates)
        + "). Reinstall gdynbook from a wheel or an editable checkout."
    )


def available() -> list[str]:
    """Return the names of all shipped data files, relative to the data directory."""
    root = data_dir()
    return sorted(
        str(p.relative_to(root)).replace("\\", "/")
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    )


def path(name: str) -> Path:
    """Return the absolute path of a shipped data file.

    Parameters
    ----------
    name : str
        File name relative to the data directory, e.g. ``"toy/traj.npz"``.

    Returns
    -------
    pathlib.Path
        Path to an existing file.

    Raises
    ------
    FileNotFoundError
        If no shipped file has that name; the message lists the available ones.
    """
    root = data_dir()
    candidate = (root / name).resolve()
    if root.resolve() not in candidate.parents:
        raise FileNotFoundError(f"{name!r} points outside gdynbook's data directory {root}.")
    if not candidate.is_file():
        names = available()
        listing = ", ".join(names) if names else "(none)"
        raise FileNotFoundError(
            f"gdynbook ships no data file named {name!r}. Available: {listing}."
        )
    return candidate
