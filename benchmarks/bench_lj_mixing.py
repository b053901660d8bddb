"""Exact geometric LJ mixing for PEO/LiTFSI: energy and speed of three treatments.

OpenMM's NonbondedForce mixes LJ σ arithmetically; OPLS-AA and CL&P mix geometrically.
gdynbook's default ("li-geometric") carries Li⁺ LJ in a custom force with exact
geometric mixing and leaves the rest arithmetic. This compares, on an equilibrated box
from ``data/peo_litfsi`` (or a freshly built one), in the same process:

* ``exact``      — every LJ pair geometric (custom force for all pairs), the reference;
* ``li-geometric`` — the default;
* ``arithmetic`` — plain NonbondedForce.

It prints the LJ+Coulomb energy difference from the reference (kJ/mol, and per Li⁺
for the Li part) and the speed of 500 MD steps (4 fs, one CPU thread) as a ratio to the reference.

    python benchmarks/bench_lj_mixing.py [state.xml.gz]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import openmm
import openmm.unit as unit

from gdynbook.systems.peo_litfsi.builder import build_box
from gdynbook.systems.peo_litfsi.md import Protocol, load_state
from gdynbook.systems.peo_litfsi.system import FORCE_GROUPS, create_system

N_STEPS = 500
DEFAULT_STATE = Path(__file__).resolve().parents[1] / "data/peo_litfsi/equilibration/nvt.xml.gz"


def main() -> None:
    protocol = Protocol()
    box = build_box(protocol.composition, protocol.build_density_g_cm3, seed=protocol.seed)
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_STATE
    if not path.exists():
        candidates = sorted(DEFAULT_STATE.parent.glob("*.xml.gz"))
        if not candidates:
            raise SystemExit("no saved state found: run `gdynbook simulate peo-litfsi` first")
        path = candidates[-1]
    state = load_state(path)
    print(f"state: {path}")
    groups = (1 << FORCE_GROUPS["nonbonded"]) | (1 << FORCE_GROUPS["lj_custom"])
    results = {}
    for mixing in ("exact", "li-geometric", "arithmetic"):
        system = create_system(box, hydrogen_mass=protocol.hydrogen_mass_amu, lj_mixing=mixing)
        system.setDefaultPeriodicBoxVectors(*state.getPeriodicBoxVectors())
        integrator = openmm.LangevinMiddleIntegrator(423, 1.0, 0.004)
        context = openmm.Context(
            system, integrator, openmm.Platform.getPlatformByName("CPU"), {"Threads": "1"}
        )
        context.setState(state)
        energy = context.getState(getEnergy=True, groups=groups).getPotentialEnergy()
        integrator.step(20)
        start = time.perf_counter()
        integrator.step(N_STEPS)
        seconds = time.perf_counter() - start
        results[mixing] = (energy.value_in_unit(unit.kilojoule_per_mole), seconds)
    reference_energy, reference_time = results["exact"]
    print(f"{'mixing':>13} {'E_nonbonded kJ/mol':>19} {'dE vs exact':>12} {'time ratio':>10}")
    for mixing, (energy, seconds) in results.items():
        print(
            f"{mixing:>13} {energy:>19.1f} {energy - reference_energy:>12.1f} "
            f"{seconds / reference_time:>10.2f}"
        )


if __name__ == "__main__":
    main()
