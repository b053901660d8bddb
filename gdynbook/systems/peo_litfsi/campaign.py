"""A campaign: several independent PEO/LiTFSI builds run one after another, resumably.

A campaign file (JSON) names the builds and the protocol of each::

    {
      "description": "what the campaign is for",
      "base": {"temperature_k": 423.0, "composition": {"n_chains": 6, ...}, ...},
      "builds": [
        {"name": "screen/q0.8-eo12", "protocol": {"seed": 3101, "ion_charge_scale": 0.8}},
        ...
      ]
    }

Each build's protocol is :class:`~gdynbook.systems.peo_litfsi.md.Protocol`'s defaults,
updated by ``base`` and then by its own ``protocol`` (``composition`` is merged key by
key). Each build is an ordinary simulation directory ``<root>/<name>``, so every
build is resumed, checked and loaded exactly like a single simulation. Builds run in the
order listed; a call with ``resume=True`` skips finished builds and continues the first
unfinished one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gdynbook.systems.peo_litfsi.md import PeoLitfsiSimulation, Protocol


@dataclass(frozen=True)
class CampaignBuild:
    """One build of a campaign: its folder name (relative to the root) and protocol."""

    name: str
    protocol: Protocol


def _merged(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if key == "composition":
            merged[key] = {**merged.get(key, {}), **value}
        else:
            merged[key] = value
    return merged


def read_campaign(path: str | os.PathLike[str]) -> list[CampaignBuild]:
    """Read a campaign file and return its builds with their full protocols.

    Raises
    ------
    ValueError
        If the file is not a campaign (no ``builds``), a name repeats or escapes the
        root, two builds share a builder seed, or a protocol is invalid.
    """
    values = json.loads(Path(path).read_text())
    if not isinstance(values, dict) or not values.get("builds"):
        raise ValueError(f"{path} is not a campaign file: it needs a non-empty 'builds' list.")
    defaults = Protocol().to_dict()
    base = _merged(defaults, values.get("base", {}))
    builds: list[CampaignBuild] = []
    for entry in values["builds"]:
        name = entry["name"]
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise ValueError(f"build name {name!r} must be a relative path inside the root.")
        unknown = set(entry.get("protocol", {})) - set(defaults)
        if unknown:
            raise ValueError(f"build {name!r}: unknown protocol fields {sorted(unknown)}.")
        protocol = Protocol.from_dict(_merged(base, entry.get("protocol", {})))
        protocol.validate()
        builds.append(CampaignBuild(name=name, protocol=protocol))
    names = [b.name for b in builds]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: build names repeat.")
    seeds = [b.protocol.seed for b in builds]
    if len(set(seeds)) != len(seeds):
        raise ValueError(
            f"{path}: two builds share a builder seed; independent builds need their own."
        )
    return builds


def run_campaign(
    path: str | os.PathLike[str],
    root: str | os.PathLike[str],
    *,
    platform: str = "CPU",
    threads: int = 1,
    max_wall_hours: float | None = None,
    progress: bool = True,
) -> bool:
    """Run (or resume) every build of a campaign under ``root``, in order.

    Returns whether every build is finished. The wall-clock budget is shared: the
    campaign stops cleanly after the chunk that passes it. A build that another live
    process is running (its lock is held) is skipped, so two processes started on the
    same campaign work on different builds, one core or GPU each.
    """
    import time

    from gdynbook.cache import LockHeld

    began = time.monotonic()
    skipped = []
    for build in read_campaign(path):
        remaining = None
        if max_wall_hours is not None:
            remaining = max_wall_hours - (time.monotonic() - began) / 3600.0
            if remaining <= 0:
                return False
        simulation = PeoLitfsiSimulation(
            Path(root) / build.name,
            build.protocol,
            platform=platform,
            threads=threads,
            resume=True,
            max_wall_hours=remaining,
            progress=progress,
        )
        try:
            finished = simulation.run()
        except LockHeld:
            skipped.append(build.name)
            if progress:
                print(f"{build.name}: another process is running it; going on to the next build")
            continue
        if not finished:
            return False
    return not skipped
