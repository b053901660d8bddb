"""Interactive 3D views of trajectories in the notebook (nglview).

The widget's JavaScript comes from the reader's browser session (Jupyter, Colab or the
rendered book's CDN scripts); nothing here needs the network.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gdynbook.trajectory import Trajectory


def notebook_nglview(caller: str) -> Any:
    """Import nglview for a view made by ``caller``, ready for the notebook at hand.

    On Colab, ipywidgets show only with the custom widget manager switched on, so it is
    switched on here.

    Raises
    ------
    ImportError
        Without nglview (``pip install 'gdynbook[notebooks]'``).
    """
    try:
        import nglview
    except ImportError as exc:  # pragma: no cover - nglview is in the notebooks extra
        raise ImportError(f"{caller} needs nglview: pip install 'gdynbook[notebooks]'.") from exc
    import sys

    if "google.colab" in sys.modules:
        from google.colab import output

        output.enable_custom_widget_manager()
    return nglview


def view_trajectory(
    traj: Trajectory,
    frames: slice | None = None,
    wrap: bool = True,
    target_radius: float = 0.6,
    other_radius: float = 1.0,
) -> Any:
    """An nglview widget of ``traj``: atoms as spheres, the unit cell, an animation.

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

    Raises
    ------
    ImportError
        Without nglview (``pip install 'gdynbook[notebooks]'``).
    """
    nglview = notebook_nglview("view_trajectory")
    shown = traj[frames] if frames is not None else traj
    if wrap:
        shown = shown.wrap()
    view = nglview.show_mdtraj(shown.to_mdtraj())
    view.clear_representations()
    targets = " or ".join(f"@{int(i)}" for i in np.asarray(shown.target_index))
    view.add_spacefill(selection=f"not ({targets})", radius=other_radius)
    view.add_spacefill(selection=targets, radius=target_radius)
    view.add_unitcell()
    view.camera = "orthographic"
    return view
