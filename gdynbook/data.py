"""Find files shipped with gdynbook (small data sets and pretrained weights).

The files live in ``data/`` at the top of the repository. An editable install
(``pip install -e .``) reads them from there; a wheel carries a copy as
``gdynbook/_data`` (hatchling ``force-include``). Chapters call :func:`path` and
never use relative paths such as ``../data``.

``SHA256SUMS`` in the data directory lists the sha256 of every shipped file in the format
of ``sha256sum`` (``cd data && sha256sum -c SHA256SUMS`` checks them);
:func:`verify_manifest` checks it from Python and a test keeps it complete.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from gdynbook.cache import atomic_write_bytes

_PACKAGE_DIR = Path(__file__).resolve().parent
MANIFEST = "SHA256SUMS"
_NOT_LISTED = {MANIFEST, "README.md"}  # the manifest itself and the prose about the data


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


def available(root: Path | None = None) -> list[str]:
    """Return the names of all shipped data files, relative to the data directory.

    Hidden files and everything in hidden folders (a simulation's ``.partial/``
    work in progress) are not data.

    Parameters
    ----------
    root : pathlib.Path, optional
        Data directory; default :func:`data_dir`.
    """
    root = data_dir() if root is None else Path(root)
    return sorted(
        str(p.relative_to(root)).replace("\\", "/")
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def sha256_file(file: Path) -> str:
    """Return the hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(file, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_text(root: Path | None = None) -> str:
    """Return the ``SHA256SUMS`` text for every file in the data directory.

    One line per file, ``<sha256>  <relative path>``, sorted by path, the manifest
    itself and ``README.md`` left out. Refresh the shipped one after changing ``data/`` with
    ``python -c "from gdynbook import data; data.write_manifest('data')"``.

    Parameters
    ----------
    root : pathlib.Path, optional
        Data directory; default :func:`data_dir`.
    """
    root = data_dir() if root is None else Path(root)
    lines = [
        f"{sha256_file(root / name)}  {name}" for name in available(root) if name not in _NOT_LISTED
    ]
    return "\n".join(lines) + "\n"


def write_manifest(root: Path | str) -> Path:
    """Write ``SHA256SUMS`` into the data directory ``root``; returns its path."""
    return atomic_write_bytes(Path(root) / MANIFEST, manifest_text(Path(root)).encode())


def verify_manifest(root: Path | None = None) -> list[str]:
    """Check the shipped files against ``SHA256SUMS``.

    Parameters
    ----------
    root : pathlib.Path, optional
        Data directory; default :func:`data_dir`.

    Returns
    -------
    list of str
        One line per problem (a file changed, missing or not listed); empty when every
        file matches.
    """
    root = data_dir() if root is None else Path(root)
    manifest = root / MANIFEST
    if not manifest.is_file():
        return [f"{manifest} is missing: write it with gdynbook.data.write_manifest({str(root)!r})"]
    listed = {}
    for line in manifest.read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        listed[name.strip()] = digest
    present = set(available(root)) - _NOT_LISTED
    problems = [
        f"{name}: listed in {MANIFEST} but missing" for name in sorted(set(listed) - present)
    ]
    problems += [f"{name}: not listed in {MANIFEST}" for name in sorted(present - set(listed))]
    problems += [
        f"{name}: sha256 differs from {MANIFEST}"
        for name in sorted(present & set(listed))
        if sha256_file(root / name) != listed[name]
    ]
    return problems


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


def chapters_dir() -> Path:
    """The folder of the book's chapter notebooks: the wheel's ``gdynbook/_book`` or the
    checkout's ``book/``.

    Raises
    ------
    FileNotFoundError
        If neither exists.
    """
    for candidate in (_PACKAGE_DIR / "_book", _PACKAGE_DIR.parent / "book"):
        if candidate.is_dir() and any(candidate.glob("*.ipynb")):
            return candidate
    raise FileNotFoundError(
        "the chapter notebooks were not found: reinstall gdynbook from a wheel, or run from "
        "a checkout of the repository."
    )


def copy_chapters(
    output: Path | str, solutions: bool = True, overwrite: bool = False
) -> list[Path]:
    """Copy every chapter notebook into ``output``; without ``solutions`` the cells tagged
    ``solution`` are left out. Returns the files written.

    Raises
    ------
    FileExistsError
        If a chapter already exists in ``output`` and ``overwrite`` is false.
    """
    import json

    from gdynbook.cache import atomic_write_bytes

    source = chapters_dir()
    out = Path(output)
    chapters = sorted(source.glob("*.ipynb"))
    existing = [c.name for c in chapters if (out / c.name).exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"{out} already holds {', '.join(existing)}: choose another --output or pass "
            "--overwrite."
        )
    written = []
    for chapter in chapters:
        notebook = json.loads(chapter.read_text())
        if not solutions:
            notebook["cells"] = [
                cell
                for cell in notebook["cells"]
                if "solution" not in cell.get("metadata", {}).get("tags", [])
            ]
        text = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
        written.append(atomic_write_bytes(out / chapter.name, text.encode()))
    return written


def staged_manifest_text(repository: Path | str, data_folder: str = "data") -> str:
    """The ``SHA256SUMS`` text of the data files as *staged* in a git repository.

    For committing files that a running simulation keeps writing: stage them, write the
    manifest from the staged blobs (not the working tree, which may already hold a newer
    file), stage the manifest, commit. Same format as :func:`manifest_text`. A folder that
    is not a git repository makes git fail (``subprocess.CalledProcessError``).
    """
    import subprocess

    repo = Path(repository)
    listing = subprocess.run(
        ["git", "ls-files", "-s", "--", data_folder],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    lines = []
    for row in listing.splitlines():
        meta, path = row.split("\t", 1)
        relative = path[len(data_folder) + 1 :]
        if relative in _NOT_LISTED or any(part.startswith(".") for part in relative.split("/")):
            continue
        blob = subprocess.run(
            ["git", "cat-file", "blob", meta.split()[1]], cwd=repo, check=True, capture_output=True
        ).stdout
        lines.append((relative, hashlib.sha256(blob).hexdigest()))
    return "".join(f"{digest}  {name}\n" for name, digest in sorted(lines))
