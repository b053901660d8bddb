"""gdynbook: graph dynamical networks (GDyNets) as a small package and an executable book.

The data flow the book follows, one module per arrow::

    trajectory -> neighbour graphs -> time-lagged pairs -> encoder
               -> state probabilities -> Koopman analysis -> plots

Submodules are imported lazily so that ``import gdynbook`` stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = {
    "analysis",
    "cache",
    "cli",
    "config",
    "data",
    "dataset",
    "distributed",
    "estimators",
    "graph_store",
    "graphs",
    "intervals",
    "jobs",
    "koopman",
    "lag_choice",
    "markov",
    "markov_additive",
    "nonequilibrium",
    "original_data",
    "model",
    "plots",
    "selection",
    "states",
    "systems",
    "train",
    "trajectory",
    "transference",
    "transport",
    "vamp",
    "viewer",
}
_EXPORTS = {
    "Trajectory": "trajectory",
    "load_trajectory": "trajectory",
    "TrajectoryError": "trajectory",
    "GDyNet": "model",
    "fit": "train",
    "predict": "train",
    "estimate_koopman": "koopman",
    "vamp_score": "vamp",
    "fit_simplex": "states",
    "analyze": "analysis",
    "train_run": "jobs.own_data",
    "analyze_run": "jobs.own_data",
}

__all__ = ["__version__", *sorted(_EXPORTS), *sorted(_SUBMODULES)]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f"gdynbook.{_EXPORTS[name]}"), name)
    if name in _SUBMODULES:
        return import_module(f"gdynbook.{name}")
    raise AttributeError(f"module 'gdynbook' has no attribute {name!r}")
