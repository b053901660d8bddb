"""Interactive 3D views of trajectories in the notebook.

Two back ends draw the same view:

* ``"py3dmol"`` (default) — py3Dmol, a pure-Python wheel in the ``[notebooks]`` extra. It
  installs on Colab without touching its notebook or ipywidgets, and needs no widget
  manager: the view is HTML and JavaScript (3Dmol.js, fetched by the reader's browser).
* ``"nglview"`` — an ipywidgets widget, in the ``[viewer]`` extra, for local Jupyter.

Every chapter shows a static figure beside each view, so a page without JavaScript (or
offline) loses nothing but the rotation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gdynbook.trajectory import Trajectory

#: The view back ends.
BACKENDS = ("py3dmol", "nglview")


def notebook_nglview(caller: str) -> Any:
    """Import nglview for a view made by ``caller``, ready for the notebook at hand.

    On Colab, ipywidgets show only with the custom widget manager switched on, so it is
    switched on here.

    Raises
    ------
    ImportError
        Without nglview (``pip install 'gdynbook[viewer]'``).
    """
    try:
        import nglview
    except ImportError as exc:
        raise ImportError(
            f"{caller}(backend='nglview') needs nglview: pip install 'gdynbook[viewer]' "
            "(local Jupyter), or use the default backend='py3dmol'."
        ) from exc
    import sys

    if "google.colab" in sys.modules:
        from google.colab import output

        output.enable_custom_widget_manager()
    return nglview


def notebook_py3dmol(caller: str) -> Any:
    """Import py3Dmol for a view made by ``caller``.

    Raises
    ------
    ImportError
        Without py3Dmol (``pip install 'gdynbook[notebooks]'``).
    """
    try:
        import py3Dmol
    except ImportError as exc:
        raise ImportError(
            f"{caller} needs py3Dmol: pip install 'gdynbook[notebooks]' (or py3Dmol)."
        ) from exc
    return py3Dmol


def element_symbols(atomic_numbers: np.ndarray) -> list[str]:
    """Element symbols of atomic numbers (mdtraj's table)."""
    import mdtraj

    return [mdtraj.element.Element.getByAtomicNumber(int(z)).symbol for z in atomic_numbers]


def xyz_frames(symbols: list[str], coords: np.ndarray, comment: str = "gdynbook") -> str:
    """Frames as one multi-model XYZ text (Å).

    Parameters
    ----------
    symbols : list of str
        One element symbol per atom.
    coords : numpy.ndarray, shape (n_frames, n_atoms, 3) or (n_atoms, 3)
    """
    coords = np.asarray(coords, dtype=np.float64)
    if coords.ndim == 2:
        coords = coords[None]
    if coords.shape[1] != len(symbols):
        raise ValueError(f"{len(symbols)} symbols for {coords.shape[1]} atoms.")
    blocks = []
    for frame in coords:
        lines = [
            f"{s} {x:.4f} {y:.4f} {z:.4f}" for s, (x, y, z) in zip(symbols, frame, strict=True)
        ]
        blocks.append(f"{len(symbols)}\n{comment}\n" + "\n".join(lines))
    return "\n".join(blocks) + "\n"


def cell_edges(lattice: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The 12 edges (start, end) of the cell spanned by the rows of ``lattice`` (Å)."""
    lattice = np.asarray(lattice, dtype=np.float64)
    edges = []
    for axis in range(3):
        others = [k for k in range(3) if k != axis]
        for i in (0, 1):
            for j in (0, 1):
                start = i * lattice[others[0]] + j * lattice[others[1]]
                edges.append((start, start + lattice[axis]))
    return edges


def _point(xyz: np.ndarray) -> dict[str, float]:
    return {"x": float(xyz[0]), "y": float(xyz[1]), "z": float(xyz[2])}


def view_trajectory(
    traj: Trajectory,
    frames: slice | None = None,
    wrap: bool = True,
    target_radius: float = 0.6,
    other_radius: float = 1.0,
    backend: str = "py3dmol",
) -> Any:
    """A 3D view of ``traj``: atoms as spheres, the unit cell, an animation.

    Parameters
    ----------
    traj : Trajectory
        Any trajectory; the target atoms are drawn smaller and in their element colour.
    frames : slice, optional
        Frames to show (all by default; a few hundred animate smoothly).
    wrap : bool
        Wrap atoms into the cell first, so the view stays inside the box.
    target_radius, other_radius : float
        Sphere radii, Å.
    backend : {"py3dmol", "nglview"}
        See the module docstring.

    Raises
    ------
    ImportError
        Without the back end's package.
    ValueError
        For an unknown back end.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}.")
    shown = traj[frames] if frames is not None else traj
    if wrap:
        shown = shown.wrap()
    targets = [int(i) for i in np.asarray(shown.target_index)]
    if backend == "nglview":
        nglview = notebook_nglview("view_trajectory")
        view = nglview.show_mdtraj(shown.to_mdtraj())
        view.clear_representations()
        selected = " or ".join(f"@{i}" for i in targets)
        view.add_spacefill(selection=f"not ({selected})", radius=other_radius)
        view.add_spacefill(selection=selected, radius=target_radius)
        view.add_unitcell()
        view.camera = "orthographic"
        return view
    py3Dmol = notebook_py3dmol("view_trajectory")
    view = py3Dmol.view(width=480, height=400)
    view.addModelsAsFrames(xyz_frames(element_symbols(shown.atom_types), shown.coords), "xyz")
    view.setStyle({}, {"sphere": {"radius": other_radius}})
    view.setStyle({"index": targets}, {"sphere": {"radius": target_radius}})
    for start, end in cell_edges(shown.lattices[0]):
        view.addLine({"start": _point(start), "end": _point(end), "color": "grey"})
    view.animate({"loop": "forward", "interval": 60})
    view.zoomTo()
    return view


def view_molecules(
    atomic_numbers: np.ndarray,
    coords: np.ndarray,
    highlight: int | None = None,
    highlight_radius: float = 0.8,
    backend_caller: str = "view_molecules",
) -> Any:
    """A py3Dmol ball-and-stick view of one frame (bonds from distances), with atom
    ``highlight`` as a large purple sphere, centred on it.

    Parameters
    ----------
    atomic_numbers : numpy.ndarray, shape (n_atoms,)
    coords : numpy.ndarray, shape (n_atoms, 3)
        Å.
    highlight : int, optional
        Position (in these atoms) of the atom to mark.
    """
    py3Dmol = notebook_py3dmol(backend_caller)
    view = py3Dmol.view(width=480, height=400)
    view.addModel(xyz_frames(element_symbols(atomic_numbers), coords), "xyz")
    view.setStyle({}, {"stick": {"radius": 0.15}, "sphere": {"scale": 0.25}})
    if highlight is not None:
        view.setStyle(
            {"index": int(highlight)},
            {"sphere": {"radius": highlight_radius, "color": "purple"}},
        )
        view.zoomTo({"index": int(highlight)})
    else:
        view.zoomTo()
    return view
