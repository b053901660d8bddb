"""The PEO/LiTFSI MD protocol: build → minimise → compress → anneal → NPT → NVT runs.

Every stage is cut into chunks. Each chunk starts from a portable OpenMM ``State`` XML
file (positions, velocities, box, time), in a fresh ``Context`` whose random seed is
derived from the master seed, the stage and the chunk number, and ends by writing the
next state. A run cut off anywhere therefore resumes (``resume=True``) from the last
finished chunk and gives the same frames as an uninterrupted run on the same platform
with the same thread count. In-progress output goes to ``<output>/.partial`` (ignored
by git); a finished chunk is moved into place and never rewritten.

Production is NVT at the mean NPT volume with a weakly coupled Langevin thermostat and
the centre-of-mass motion remover: a barostat rescales coordinates and would corrupt
the ion displacements that transference numbers are made of. Coordinates are written
**unwrapped** (``enforcePeriodicBox=False``) as compressed XTC chunks.

Output layout (zero-padded, so sorted order is time order)::

    <output>/protocol.json
    <output>/equilibration/{minimized,compressed,anneal-NNNN,npt-NNNN,nvt}.xml.gz, thermo-*.csv
    <output>/run-NN/{topology.pdb, chunk-NNNN.xtc, thermo-NNNN.csv, provenance.json, state.xml.gz}
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import os
import platform as platform_module
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gdynbook import __version__
from gdynbook.cache import atomic_path, atomic_write_bytes, exclusive_lock
from gdynbook.data import sha256_file
from gdynbook.systems.peo_litfsi.builder import AVOGADRO, Composition, build_box
from gdynbook.systems.peo_litfsi.system import create_system, openmm_topology, subset_topology

if TYPE_CHECKING:  # pragma: no cover
    import openmm

PARTIAL = ".partial"


@dataclass
class Protocol:
    """Every parameter of a PEO/LiTFSI simulation (times in ps, temperatures in K).

    The defaults are the first shipped data set: 10 × 20-EO chains + 16 LiTFSI at
    423 K, ion charges × 0.8, 4 fs steps with hydrogen mass repartitioning (H = 3 amu),
    five NVT runs of 2.5 ns with a frame every 5 ps.

    ``ion_charge_scale`` multiplies the Li⁺ and TFSI⁻ charges. ``frame_atoms`` is
    ``"all"`` or ``"heavy"`` (hydrogens left out of the XTC frames and the topology
    that goes with them, to keep shipped data small). With
    ``equilibration_frame_interval_ps`` the anneal and NPT stages also write frames
    (Li⁺, O and N only) every that many ps, so pairing and chain changes can be traced
    through the equilibration. ``layout`` is ``"runs"`` (production in ``run-NN/``)
    or ``"build"`` (one production run written into the output directory itself:
    ``topology.pdb``, ``chunk-NNNN.xtc``, ``provenance.json`` beside ``protocol.json``).
    ``keep_stage_states=False`` keeps only the latest state of each equilibration stage.
    """

    composition: Composition = field(default_factory=Composition)
    seed: int = 2026
    build_density_g_cm3: float = 0.3
    temperature_k: float = 423.0
    cutoff_a: float = 10.0
    hydrogen_mass_amu: float | None = 3.0
    time_step_fs: float = 4.0
    equilibration_friction_per_ps: float = 1.0
    production_friction_per_ps: float = 0.1
    compress_ps: float = 30.0
    compress_time_step_fs: float = 2.0
    compress_temperature_k: float = 600.0
    compress_pressure_bar: float = 1000.0
    anneal_ps: float = 1000.0
    anneal_temperature_k: float = 500.0
    npt_ps: float = 1500.0
    npt_average_last_ps: float = 1000.0
    pressure_bar: float = 1.0
    barostat_interval_steps: int = 25
    nvt_equilibration_ps: float = 100.0
    n_runs: int = 5
    production_ps: float = 2500.0
    chunk_ps: float = 250.0
    frame_interval_ps: float = 5.0
    thermo_interval_ps: float = 1.0
    ion_charge_scale: float = 0.8
    frame_atoms: str = "all"
    equilibration_frame_interval_ps: float | None = None
    layout: str = "runs"
    keep_stage_states: bool = True

    @classmethod
    def smoke(cls) -> Protocol:
        """A tiny, seconds-long protocol for tests (not physically equilibrated)."""
        return cls(
            composition=Composition(n_chains=2, n_ethylene_oxide=4, n_salt=2),
            build_density_g_cm3=0.3,
            cutoff_a=7.0,
            compress_ps=0.4,
            anneal_ps=0.4,
            npt_ps=0.4,
            npt_average_last_ps=0.2,
            nvt_equilibration_ps=0.2,
            n_runs=2,
            production_ps=0.8,
            chunk_ps=0.4,
            frame_interval_ps=0.04,
            thermo_interval_ps=0.04,
            barostat_interval_steps=10,
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Protocol:
        values = dict(values)
        values["composition"] = Composition(**values["composition"])
        return cls(**values)

    def steps(self, duration_ps: float, time_step_fs: float | None = None) -> int:
        """Number of MD steps in ``duration_ps``; refuses durations that do not divide."""
        step_ps = (time_step_fs or self.time_step_fs) / 1000.0
        steps = duration_ps / step_ps
        if abs(steps - round(steps)) > 1e-6 or round(steps) < 1:
            raise ValueError(f"{duration_ps} ps is not a whole number of {step_ps} ps steps.")
        return int(round(steps))

    def validate(self) -> None:
        """Check that the chunking and frame intervals fit together."""
        for name in ("production_ps", "anneal_ps", "npt_ps"):
            total = getattr(self, name)
            if abs(total / self.chunk_ps - round(total / self.chunk_ps)) > 1e-9:
                raise ValueError(
                    f"{name}={total} is not a whole number of chunks of {self.chunk_ps} ps."
                )
        for interval in (self.frame_interval_ps, self.thermo_interval_ps):
            if abs(self.chunk_ps / interval - round(self.chunk_ps / interval)) > 1e-9:
                raise ValueError(f"chunk_ps={self.chunk_ps} is not a multiple of {interval} ps.")
            self.steps(interval)
        if self.npt_average_last_ps > self.npt_ps:
            raise ValueError("npt_average_last_ps cannot exceed npt_ps.")
        if self.frame_atoms not in ("all", "heavy"):
            raise ValueError(f"frame_atoms must be 'all' or 'heavy', got {self.frame_atoms!r}.")
        if self.layout not in ("runs", "build"):
            raise ValueError(f"layout must be 'runs' or 'build', got {self.layout!r}.")
        if self.layout == "build" and self.n_runs != 1:
            raise ValueError(
                "layout='build' holds exactly one production run (n_runs=1); independent "
                "builds are separate output directories."
            )
        if not 0.0 < self.ion_charge_scale <= 1.0:
            raise ValueError(f"ion_charge_scale must lie in (0, 1], got {self.ion_charge_scale}.")
        interval = self.equilibration_frame_interval_ps
        if interval is not None:
            for name in ("anneal_ps", "npt_ps"):
                chunk = min(self.chunk_ps, getattr(self, name))
                ratio = chunk / interval
                if abs(ratio - round(ratio)) > 1e-9 or round(ratio) < 1:
                    raise ValueError(
                        f"equilibration_frame_interval_ps={interval} does not divide the "
                        f"{name} chunks ({chunk} ps)."
                    )
                ratio = interval / self.thermo_interval_ps
                if abs(ratio - round(ratio)) > 1e-9:
                    raise ValueError(
                        "equilibration_frame_interval_ps must be a multiple of thermo_interval_ps."
                    )


# ---------------------------------------------------------------------- small helpers
def derived_seed(master: int, *labels: object) -> int:
    """A positive 31-bit seed from the master seed and labels (stage, chunk)."""
    text = json.dumps([master, *[str(label) for label in labels]])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") % (2**31 - 2) + 1


def write_json(path: Path, values: dict[str, Any]) -> None:
    """Write JSON atomically."""
    atomic_write_bytes(path, (json.dumps(values, indent=2, sort_keys=False) + "\n").encode())


def save_state(state: openmm.State, path: Path) -> None:
    """Write an OpenMM ``State`` as gzip-compressed XML, atomically."""
    import openmm

    xml = openmm.XmlSerializer.serialize(state).encode()
    atomic_write_bytes(path, gzip.compress(xml, compresslevel=6, mtime=0))


def load_state(path: Path) -> openmm.State:
    """Read a State written by :func:`save_state`."""
    import openmm

    return openmm.XmlSerializer.deserialize(gzip.decompress(path.read_bytes()).decode())


def write_xtc(
    path: Path,
    positions_nm: np.ndarray,
    times_ps: np.ndarray,
    boxes_nm: np.ndarray,
    time_step_fs: float,
) -> None:
    """Write frames (nm, ps) to a compressed XTC file atomically (precision 0.001 nm)."""
    from mdtraj.formats import XTCTrajectoryFile

    steps = np.round(times_ps / (time_step_fs / 1000.0)).astype(np.int32)
    with atomic_path(path) as tmp, XTCTrajectoryFile(str(tmp), "w") as stream:
        stream.write(
            xyz=positions_nm.astype(np.float32),
            time=times_ps.astype(np.float32),
            step=steps,
            box=boxes_nm.astype(np.float32),
        )


def count_xtc_frames(path: Path) -> int:
    """Number of frames in an XTC file."""
    from mdtraj.formats import XTCTrajectoryFile

    with XTCTrajectoryFile(str(path), "r") as stream:
        return len(stream)


def _density_g_cm3(total_mass_amu: float, volume_nm3: float) -> float:
    return total_mass_amu / AVOGADRO / (volume_nm3 * 1e-21)


class ThermoLog:
    """Time, potential and kinetic energy, temperature, volume and density of a segment."""

    columns = (
        "time_ps",
        "potential_kj_mol",
        "kinetic_kj_mol",
        "temperature_k",
        "volume_nm3",
        "density_g_cm3",
    )

    def __init__(self, system: openmm.System) -> None:
        import openmm

        n_constraints = system.getNumConstraints()
        has_cmm = any(isinstance(f, openmm.CMMotionRemover) for f in system.getForces())
        self.dof = 3 * system.getNumParticles() - n_constraints - (3 if has_cmm else 0)
        self.mass_amu = sum(
            system.getParticleMass(i)._value for i in range(system.getNumParticles())
        )
        self.rows: list[tuple[float, ...]] = []

    def record(self, state: openmm.State) -> None:
        import openmm.unit as unit

        kinetic = state.getKineticEnergy().value_in_unit(unit.kilojoule_per_mole)
        temperature = (
            2
            * kinetic
            / (
                self.dof
                * unit.MOLAR_GAS_CONSTANT_R.value_in_unit(unit.kilojoule_per_mole / unit.kelvin)
            )
        )
        volume = state.getPeriodicBoxVolume().value_in_unit(unit.nanometer**3)
        self.rows.append(
            (
                state.getTime().value_in_unit(unit.picosecond),
                state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole),
                kinetic,
                temperature,
                volume,
                _density_g_cm3(self.mass_amu, volume),
            )
        )

    def array(self) -> np.ndarray:
        return np.array(self.rows, dtype=np.float64).reshape(-1, len(self.columns))

    def write(self, path: Path) -> None:
        header = ",".join(self.columns)
        lines = [header] + [",".join(f"{v:.6f}" for v in row) for row in self.rows]
        atomic_write_bytes(path, ("\n".join(lines) + "\n").encode())


def read_thermo(path: Path) -> np.ndarray:
    """Read a thermo CSV written during a segment: columns of :attr:`ThermoLog.columns`."""
    return np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)


# ---------------------------------------------------------------------- the driver
class PeoLitfsiSimulation:
    """Drive (and resume) the whole protocol in an output directory.

    Parameters
    ----------
    output : path
        Directory for everything the protocol writes.
    protocol : Protocol
        Parameters; stored in ``protocol.json`` and checked on resume.
    platform : str
        OpenMM platform name (``CPU``, ``CUDA``, ``Reference``).
    threads : int
        CPU threads (CPU platform only). One leaves the other core free.
    resume : bool
        Continue an existing directory; without it an existing one is refused.
    max_wall_hours : float, optional
        Stop cleanly after the chunk that passes this wall-clock budget.
    progress : bool
        Show a progress bar with ns/day.
    """

    def __init__(
        self,
        output: str | os.PathLike[str],
        protocol: Protocol | None = None,
        *,
        platform: str = "CPU",
        threads: int = 1,
        resume: bool = False,
        max_wall_hours: float | None = None,
        progress: bool = True,
    ) -> None:
        self.output = Path(output)
        self.platform_name = platform
        self.threads = threads
        self.progress = progress
        self.max_wall_seconds = None if max_wall_hours is None else max_wall_hours * 3600.0
        self._start_wall = time.monotonic()
        protocol_path = self.output / "protocol.json"
        if protocol_path.exists():
            stored = Protocol.from_dict(json.loads(protocol_path.read_text())["protocol"])
            if not resume:
                raise FileExistsError(
                    f"{self.output} already holds a simulation: pass resume=True (--resume) to "
                    "continue it, or choose another output directory."
                )
            if protocol is not None and protocol.to_dict() != stored.to_dict():
                raise ValueError(
                    f"the protocol given differs from {protocol_path}; resume without changing "
                    "parameters, or start a new output directory."
                )
            self.protocol = stored
        else:
            self.protocol = protocol or Protocol()
            self.protocol.validate()
            self.output.mkdir(parents=True, exist_ok=True)
            write_json(
                protocol_path,
                {
                    "protocol": self.protocol.to_dict(),
                    "created_with": self._versions(),
                },
            )
        self.partial = self.output / PARTIAL
        self.partial.mkdir(exist_ok=True)
        self.box = build_box(
            self.protocol.composition, self.protocol.build_density_g_cm3, seed=self.protocol.seed
        )

    # -------------------------------------------------------------- plumbing
    def _versions(self) -> dict[str, str]:
        import openmm

        return {
            "gdynbook": __version__,
            "openmm": openmm.__version__,
            "numpy": np.__version__,
            "python": platform_module.python_version(),
            "machine": platform_module.machine(),
            "platform": self.platform_name,
            "threads": str(self.threads),
        }

    def out_of_time(self) -> bool:
        """Whether the wall-clock budget is used up."""
        return (
            self.max_wall_seconds is not None
            and time.monotonic() - self._start_wall > self.max_wall_seconds
        )

    def _system(self, *, barostat: tuple[float, float] | None, hmr: bool = True) -> openmm.System:
        import openmm
        import openmm.unit as unit

        p = self.protocol
        system = create_system(
            self.box,
            cutoff_a=p.cutoff_a,
            hydrogen_mass=p.hydrogen_mass_amu if hmr else None,
            ion_charge_scale=p.ion_charge_scale,
        )
        system.addForce(openmm.CMMotionRemover())
        if barostat is not None:
            pressure, temperature = barostat
            force = openmm.MonteCarloBarostat(
                pressure * unit.bar, temperature * unit.kelvin, p.barostat_interval_steps
            )
            system.addForce(force)
        return system

    def _context(
        self,
        system: openmm.System,
        temperature_k: float,
        friction: float,
        time_step_fs: float,
        seed: int,
    ) -> tuple[openmm.app.Simulation, openmm.Integrator]:
        import openmm
        import openmm.app as app

        integrator = openmm.LangevinMiddleIntegrator(temperature_k, friction, time_step_fs / 1000)
        integrator.setRandomNumberSeed(seed)
        for force in system.getForces():
            if isinstance(force, openmm.MonteCarloBarostat):
                force.setRandomNumberSeed(derived_seed(seed, "barostat"))
        platform = openmm.Platform.getPlatformByName(self.platform_name)
        properties = {"Threads": str(self.threads)} if self.platform_name == "CPU" else {}
        simulation = app.Simulation(
            openmm_topology(self.box), system, integrator, platform, properties
        )
        return simulation, integrator

    def _run_segment(
        self,
        *,
        label: str,
        state_in: openmm.State | None,
        duration_ps: float,
        temperature_k: float,
        friction: float,
        time_step_fs: float,
        barostat: tuple[float, float] | None,
        seed: int,
        fresh_velocities: bool = False,
        xtc_path: Path | None = None,
        reset_time: bool = False,
        hmr: bool = True,
        frame_interval_ps: float | None = None,
        frame_atoms: np.ndarray | None = None,
    ) -> tuple[openmm.State, ThermoLog, float]:
        """Run one segment; return the final state, its thermo log and the wall time (s).

        With ``xtc_path``, a frame is stored every ``frame_interval_ps`` (default: the
        protocol's; unwrapped positions of ``frame_atoms``, default every atom, at the
        frame's own simulation time) and written at the end, atomically.
        """
        p = self.protocol
        system = self._system(barostat=barostat, hmr=hmr)
        simulation, _ = self._context(system, temperature_k, friction, time_step_fs, seed)
        context = simulation.context
        if state_in is None:
            context.setPositions(self.box.coords * 0.1)
            context.setVelocitiesToTemperature(temperature_k, derived_seed(seed, "velocities"))
        else:
            context.setState(state_in)
            if fresh_velocities:
                context.setVelocitiesToTemperature(temperature_k, derived_seed(seed, "velocities"))
        if reset_time:
            context.setTime(0.0)
        thermo = ThermoLog(system)
        frame_steps = p.steps(frame_interval_ps or p.frame_interval_ps, time_step_fs)
        frames: list[np.ndarray] = []
        frame_times: list[float] = []
        frame_boxes: list[np.ndarray] = []
        total_steps = p.steps(duration_ps, time_step_fs)
        block = min(p.steps(p.thermo_interval_ps, time_step_fs), total_steps)
        if xtc_path is not None and frame_steps % block:
            raise ValueError("frame_interval_ps must be a multiple of thermo_interval_ps.")
        bar = self._bar(total_steps * time_step_fs / 1000.0, label)
        began = time.monotonic()
        done = 0
        while done < total_steps:
            n = min(block, total_steps - done)
            simulation.step(n)
            done += n
            want_frame = xtc_path is not None and done % frame_steps == 0
            current = context.getState(getEnergy=True, getPositions=want_frame)
            thermo.record(current)
            if want_frame:
                positions = current.getPositions(asNumpy=True)._value.astype(np.float32)
                frames.append(positions if frame_atoms is None else positions[frame_atoms])
                frame_times.append(current.getTime()._value)
                frame_boxes.append(current.getPeriodicBoxVectors(asNumpy=True)._value)
            if bar is not None:
                elapsed = time.monotonic() - began
                bar.update(n * time_step_fs / 1000.0)
                bar.set_postfix_str(
                    f"{done * time_step_fs / 1e6 / max(elapsed, 1e-9) * 86400:.1f} ns/day, "
                    f"T={thermo.rows[-1][3]:.0f} K, rho={thermo.rows[-1][5]:.3f}"
                )
        wall = time.monotonic() - began
        if bar is not None:
            bar.close()
        if xtc_path is not None:
            write_xtc(
                xtc_path,
                np.array(frames),
                np.array(frame_times),
                np.array(frame_boxes),
                time_step_fs,
            )
        state = context.getState(
            getPositions=True, getVelocities=True, getEnergy=True, enforcePeriodicBox=False
        )
        del simulation
        return state, thermo, wall

    def _bar(self, total_ps: float, label: str) -> Any:
        if not self.progress:
            return None
        from tqdm.auto import tqdm

        return tqdm(
            total=total_ps,
            desc=label,
            unit="ps",
            bar_format=(
                "{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} ps "
                "[{elapsed}<{remaining}{postfix}]"
            ),
        )

    # -------------------------------------------------------------- stages
    @property
    def equilibration_dir(self) -> Path:
        return self.output / "equilibration"

    def run_dir(self, index: int) -> Path:
        if self.protocol.layout == "build":
            return self.output
        return self.output / f"run-{index:02d}"

    @property
    def heavy_atoms(self) -> np.ndarray:
        """Indices of every atom that is not hydrogen."""
        from gdynbook.systems.peo_litfsi.forcefield import ATOM_TYPES

        return np.array(
            [i for i, t in enumerate(self.box.types) if ATOM_TYPES[t].element != "H"],
            dtype=np.int64,
        )

    @property
    def trace_atoms(self) -> np.ndarray:
        """Atoms written to the equilibration trace: Li⁺ and every O and N."""
        from gdynbook.systems.peo_litfsi.forcefield import ATOM_TYPES

        return np.array(
            [i for i, t in enumerate(self.box.types) if ATOM_TYPES[t].element in ("Li", "O", "N")],
            dtype=np.int64,
        )

    @property
    def frame_atoms(self) -> np.ndarray | None:
        """Atoms written to production frames (``None``: all of them)."""
        return self.heavy_atoms if self.protocol.frame_atoms == "heavy" else None

    def write_topology(self, path: Path, state: openmm.State, atoms: np.ndarray | None) -> None:
        """Write the PDB topology of ``atoms`` (default all) at ``state``, atomically."""
        import openmm.app as app
        import openmm.unit as unit

        positions = state.getPositions(asNumpy=True).value_in_unit(unit.nanometer)
        topology = openmm_topology(self.box)
        if atoms is not None:
            topology = subset_topology(topology, atoms)
            positions = positions[atoms]
        topology.setPeriodicBoxVectors(state.getPeriodicBoxVectors())
        with atomic_path(path) as tmp, open(tmp, "w") as stream:
            app.PDBFile.writeFile(topology, positions * unit.nanometer, stream, keepIds=True)

    def minimize(self) -> openmm.State:
        """Energy minimisation of the freshly built box."""
        import openmm

        path = self.equilibration_dir / "minimized.xml.gz"
        if path.exists():
            return load_state(path)
        self.equilibration_dir.mkdir(exist_ok=True)
        system = self._system(barostat=None)
        simulation, _ = self._context(
            system,
            self.protocol.temperature_k,
            1.0,
            1.0,
            derived_seed(self.protocol.seed, "minimize"),
        )
        simulation.context.setPositions(self.box.coords * 0.1)
        openmm.LocalEnergyMinimizer.minimize(simulation.context, 10.0, 5000)
        state = simulation.context.getState(getPositions=True, getVelocities=True, getEnergy=True)
        save_state(state, path)
        return load_state(path)

    def _chunked_stage(
        self,
        name: str,
        state: openmm.State,
        duration_ps: float,
        temperature_k: float,
        barostat: tuple[float, float] | None,
        time_step_fs: float,
        friction: float,
        fresh_velocities_first: bool,
    ) -> openmm.State | None:
        """Run a stage in chunks, resuming after its last finished chunk.

        With ``keep_stage_states=False`` only the latest chunk's state of the stage is
        kept (the earlier ones are removed once a later one is saved).
        """
        p = self.protocol
        chunk_ps = min(p.chunk_ps, duration_ps)
        n_chunks = int(round(duration_ps / chunk_ps))
        finished = [
            k
            for k in range(n_chunks)
            if (self.equilibration_dir / f"{name}-{k:04d}.xml.gz").exists()
        ]
        first = 0
        if finished:
            first = finished[-1] + 1
            state = load_state(self.equilibration_dir / f"{name}-{finished[-1]:04d}.xml.gz")
        for k in range(first, n_chunks):
            path = self.equilibration_dir / f"{name}-{k:04d}.xml.gz"
            if self.out_of_time():
                return None
            trace = p.equilibration_frame_interval_ps is not None and name in ("anneal", "npt")
            trace_path = self.partial / f"trace-{name}-{k:04d}.xtc"
            if trace and not (self.equilibration_dir / "topology-trace.pdb").exists():
                self.write_topology(
                    self.equilibration_dir / "topology-trace.pdb", state, self.trace_atoms
                )
            state, thermo, _ = self._run_segment(
                label=f"{name} {k + 1}/{n_chunks}",
                state_in=state,
                duration_ps=chunk_ps,
                temperature_k=temperature_k,
                friction=friction,
                time_step_fs=time_step_fs,
                barostat=barostat,
                seed=derived_seed(p.seed, name, k),
                fresh_velocities=fresh_velocities_first and k == 0,
                xtc_path=trace_path if trace else None,
                frame_interval_ps=p.equilibration_frame_interval_ps,
                frame_atoms=self.trace_atoms if trace else None,
            )
            thermo.write(self.equilibration_dir / f"thermo-{name}-{k:04d}.csv")
            if trace:
                # chunk protocol: a finished file moves out of .partial/ (already complete)
                os.replace(trace_path, self.equilibration_dir / f"trace-{name}-{k:04d}.xtc")
            save_state(state, path)
            state = load_state(path)  # continue from exactly what a resume would read
            if not p.keep_stage_states and k > 0:
                (self.equilibration_dir / f"{name}-{k - 1:04d}.xml.gz").unlink(missing_ok=True)
        return state

    def equilibrate(self) -> openmm.State | None:
        """Minimise, compress, anneal, NPT, then set the mean NPT volume and equilibrate NVT.

        Returns the NVT-equilibrated state, or ``None`` if the wall-clock budget ran out.
        """
        p = self.protocol
        final = self.equilibration_dir / "nvt.xml.gz"
        if final.exists():
            return load_state(final)
        state = self.minimize()
        # (name, duration ps, temperature K, pressure bar, time step fs, fresh velocities)
        stages = [
            (
                "compress",
                p.compress_ps,
                p.compress_temperature_k,
                p.compress_pressure_bar,
                p.compress_time_step_fs,
                True,
            ),
            ("anneal", p.anneal_ps, p.anneal_temperature_k, p.pressure_bar, p.time_step_fs, False),
            ("npt", p.npt_ps, p.temperature_k, p.pressure_bar, p.time_step_fs, False),
        ]
        for name, duration, temperature, pressure, time_step, fresh in stages:
            state = self._chunked_stage(
                name,
                state,
                duration,
                temperature,
                (pressure, temperature),
                time_step,
                p.equilibration_friction_per_ps,
                fresh_velocities_first=fresh,
            )
            if state is None:
                return None
        if self.out_of_time():
            return None
        mean_volume = self.mean_npt_volume_nm3()
        state = self._rescale_to_volume(state, mean_volume)
        state, thermo, _ = self._run_segment(
            label="nvt equilibration",
            state_in=state,
            duration_ps=p.nvt_equilibration_ps,
            temperature_k=p.temperature_k,
            friction=p.equilibration_friction_per_ps,
            time_step_fs=p.time_step_fs,
            barostat=None,
            seed=derived_seed(p.seed, "nvt-equilibration"),
        )
        thermo.write(self.equilibration_dir / "thermo-nvt.csv")
        npt = self.npt_thermo()
        write_json(
            self.equilibration_dir / "equilibration.json",
            {
                "mean_npt_volume_nm3": mean_volume,
                "npt_density_g_cm3_mean": float(npt[:, 5].mean()),
                "npt_density_g_cm3_std": float(npt[:, 5].std()),
                "box_length_a": float(mean_volume ** (1 / 3) * 10),
                "averaged_over_last_ps": p.npt_average_last_ps,
            },
        )
        save_state(state, final)
        return load_state(final)

    def npt_thermo(self) -> np.ndarray:
        """Thermo rows of the last ``npt_average_last_ps`` of the NPT stage."""
        p = self.protocol
        files = sorted(self.equilibration_dir.glob("thermo-npt-*.csv"))
        rows = np.concatenate([read_thermo(f) for f in files])
        end = rows[-1, 0]
        return rows[rows[:, 0] > end - p.npt_average_last_ps - 1e-9]

    def mean_npt_volume_nm3(self) -> float:
        """Mean NPT volume over the averaging window, nm³."""
        return float(self.npt_thermo()[:, 4].mean())

    def _rescale_to_volume(self, state: openmm.State, volume_nm3: float) -> openmm.State:
        """Scale molecule centres (molecules stay rigid) so the cubic box has ``volume_nm3``."""
        import openmm
        import openmm.unit as unit

        positions = state.getPositions(asNumpy=True).value_in_unit(unit.nanometer)
        box = state.getPeriodicBoxVectors(asNumpy=True).value_in_unit(unit.nanometer)
        factor = (volume_nm3 / abs(np.linalg.det(box))) ** (1.0 / 3.0)
        offset = 0
        new_positions = positions.copy()
        for molecule in self.box.molecules:
            atoms = slice(offset, offset + molecule.n_atoms)
            centre = positions[atoms].mean(axis=0)
            new_positions[atoms] = positions[atoms] + centre * (factor - 1.0)
            offset += molecule.n_atoms
        system = self._system(barostat=None)
        integrator = openmm.VerletIntegrator(0.001)
        context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName("Reference"))
        context.setPeriodicBoxVectors(*(box * factor))
        context.setPositions(new_positions)
        context.setVelocities(state.getVelocities())
        context.setTime(state.getTime())
        return context.getState(getPositions=True, getVelocities=True)

    def production(self, index: int, start: openmm.State) -> openmm.State | None:
        """Run (or resume) NVT production run ``index`` from ``start`` with fresh velocities.

        ``provenance.json`` is the commit point: a chunk counts as done once it is
        recorded there. Order of writes per chunk: the XTC file, the state after it
        (``state-NNNN.xml.gz``), then the provenance; the previous state is removed last.
        """

        p = self.protocol
        run = self.run_dir(index)
        run.mkdir(exist_ok=True)
        if not (run / "topology.pdb").exists():
            self.write_topology(run / "topology.pdb", start, self.frame_atoms)
        provenance_path = run / "provenance.json"
        provenance = (
            json.loads(provenance_path.read_text())
            if provenance_path.exists()
            else self._new_provenance(index)
        )
        n_chunks = int(round(p.production_ps / p.chunk_ps))
        n_done = len(provenance["chunks"])
        for record in provenance["chunks"]:
            chunk = run / record["file"]
            if not chunk.exists() or sha256_file(chunk) != record["sha256"]:
                raise ValueError(
                    f"{chunk} is missing or does not match its recorded sha256: the run "
                    "directory was changed by hand. Restore it from git."
                )
        for stale in run.glob("chunk-*.xtc"):
            if int(stale.stem.split("-")[1]) >= n_done:
                stale.unlink()  # written before an interruption, never recorded
        for stale in run.glob("state-*.xml.gz"):
            if int(stale.name.split("-")[1].split(".")[0]) != n_done - 1:
                stale.unlink()
        state = start if n_done == 0 else load_state(run / f"state-{n_done - 1:04d}.xml.gz")
        if n_done > 0 and abs(state.getTime()._value - n_done * p.chunk_ps) > 1e-6:
            raise ValueError(
                f"the saved state of run {index} is not at the end of chunk {n_done - 1}."
            )
        for k in range(n_done, n_chunks):
            if self.out_of_time():
                return None
            chunk = run / f"chunk-{k:04d}.xtc"
            xtc_tmp = self.partial / f"run-{index:02d}-chunk-{k:04d}.xtc"
            seed = derived_seed(p.seed, "run", index, k)
            state, thermo, wall = self._run_segment(
                label=f"run-{index:02d} chunk {k + 1}/{n_chunks}",
                state_in=state,
                duration_ps=p.chunk_ps,
                temperature_k=p.temperature_k,
                friction=p.production_friction_per_ps,
                time_step_fs=p.time_step_fs,
                barostat=None,
                seed=seed,
                fresh_velocities=(k == 0),
                xtc_path=xtc_tmp,
                reset_time=(k == 0),
                frame_atoms=self.frame_atoms,
            )
            rows = thermo.array()
            thermo.write(run / f"thermo-{k:04d}.csv")
            record = {
                "file": chunk.name,
                "sha256": sha256_file(xtc_tmp),
                "frames": count_xtc_frames(xtc_tmp),
                "start_ps": float(k * p.chunk_ps),
                "end_ps": float((k + 1) * p.chunk_ps),
                "wall_s": round(wall, 1),
                "ns_per_day": round(p.chunk_ps / 1000 / wall * 86400, 2),
                "temperature_k_mean": round(float(rows[:, 3].mean()), 3),
                "temperature_k_std": round(float(rows[:, 3].std()), 3),
                "potential_kj_mol_mean": round(float(rows[:, 1].mean()), 3),
                "density_g_cm3": round(float(rows[:, 5].mean()), 5),
                "seed": seed,
            }
            os.replace(xtc_tmp, chunk)  # chunk protocol: a finished file leaves .partial/
            save_state(state, run / f"state-{k:04d}.xml.gz")
            state = load_state(run / f"state-{k:04d}.xml.gz")  # what a resume would read
            provenance["chunks"].append(record)
            provenance["complete"] = k == n_chunks - 1
            provenance["total_frames"] = sum(c["frames"] for c in provenance["chunks"])
            write_json(provenance_path, provenance)
            (run / f"state-{k - 1:04d}.xml.gz").unlink(missing_ok=True)
        return load_state(run / f"state-{n_chunks - 1:04d}.xml.gz")

    def _new_provenance(self, index: int) -> dict[str, Any]:
        p = self.protocol
        equilibration = json.loads((self.equilibration_dir / "equilibration.json").read_text())
        if p.layout == "build":
            description = (
                "PEO/LiTFSI NVT production at the mean NPT volume of an independent build: "
                f"its own builder seed ({p.seed}), its own full equilibration, fresh "
                "velocities; it continues no other build's state. Times count from the "
                "start of production; coordinates are unwrapped"
                + ("; hydrogens are left out of the frames." if p.frame_atoms == "heavy" else ".")
            )
        else:
            description = (
                "PEO/LiTFSI NVT production at the mean NPT volume; run 0 starts from the "
                "NVT-equilibrated system, run k from the end of run k-1, each with fresh "
                "velocities (independent branches of one equilibrated system). Times count "
                "from the start of this run; coordinates are unwrapped."
            )
        return {
            "run": index,
            "description": description,
            "temperature_k": p.temperature_k,
            "time_step_fs": p.time_step_fs,
            "hydrogen_mass_amu": p.hydrogen_mass_amu,
            "friction_per_ps": p.production_friction_per_ps,
            "frame_interval_ps": p.frame_interval_ps,
            "unwrapped": True,
            "composition": dataclasses.asdict(p.composition),
            "eo_per_li": p.composition.eo_per_li,
            "ion_charge_scale": p.ion_charge_scale,
            "n_atoms": self.box.n_atoms,
            "frame_atoms": p.frame_atoms,
            "n_frame_atoms": self.box.n_atoms
            if self.frame_atoms is None
            else len(self.frame_atoms),
            "seed": p.seed,
            "equilibration": equilibration,
            "versions": self._versions(),
            "chunks": [],
            "total_frames": 0,
            "complete": False,
        }

    def validate_time_step(self, duration_ps: float = 500.0) -> dict[str, Any] | None:
        """Run the NVT-equilibrated system with 2 fs and natural masses, and with the
        production time step and hydrogen mass repartitioning, from one state with the
        same fresh velocities; write both trajectories and their comparison.

        Output goes to ``<output>/validation/time-step/``: ``hmr.xtc``, ``natural.xtc``,
        thermo logs and ``summary.json`` (Li⁺ diffusion coefficient from the MSD and
        durable TFSI in/out switches per Li⁺ per ns for each). Resumable per segment.
        """
        with self.lock():
            return self._validate_time_step_locked(duration_ps)

    def _validate_time_step_locked(self, duration_ps: float) -> dict[str, Any] | None:
        p = self.protocol
        start_path = self.equilibration_dir / "nvt.xml.gz"
        if not start_path.exists():
            raise FileNotFoundError(
                f"{start_path} is missing: equilibrate first (run the protocol)."
            )
        folder = self.output / "validation" / "time-step"
        folder.mkdir(parents=True, exist_ok=True)
        segments = {
            "hmr": (p.time_step_fs, True),
            "natural": (2.0, False),
        }
        for name, (time_step, hmr) in segments.items():
            if (folder / f"{name}.xtc").exists():
                continue
            if self.out_of_time():
                return None
            _, thermo, wall = self._run_segment(
                label=f"time-step check {name}",
                state_in=load_state(start_path),
                duration_ps=duration_ps,
                temperature_k=p.temperature_k,
                friction=p.production_friction_per_ps,
                time_step_fs=time_step,
                barostat=None,
                seed=derived_seed(p.seed, "time-step-check"),
                fresh_velocities=True,
                xtc_path=self.partial / f"{name}.xtc",
                reset_time=True,
                hmr=hmr,
            )
            thermo.write(folder / f"thermo-{name}.csv")
            # chunk protocol: a finished file moves out of .partial/
            os.replace(self.partial / f"{name}.xtc", folder / f"{name}.xtc")
        summary = self.compare_time_steps(folder)
        write_json(folder / "summary.json", summary)
        return summary

    def compare_time_steps(self, folder: Path) -> dict[str, Any]:
        """Write the check's topology if missing, then :func:`compare_time_steps`."""
        topology_path = folder / "topology.pdb"
        if not topology_path.exists():
            import openmm.app as app

            state = load_state(self.equilibration_dir / "nvt.xml.gz")
            topology = openmm_topology(self.box)
            topology.setPeriodicBoxVectors(state.getPeriodicBoxVectors())
            with atomic_path(topology_path) as tmp, open(tmp, "w") as stream:
                app.PDBFile.writeFile(topology, state.getPositions(), stream, keepIds=True)
        return compare_time_steps(folder)

    def lock(self) -> Any:
        """The build's lock (``.partial/lock``): a context manager that refuses, with
        :class:`gdynbook.cache.LockHeld`, while another live process runs this build."""
        return exclusive_lock(self.partial / "lock")

    def run(self) -> bool:
        """Run or resume everything; return whether the whole protocol is finished.

        Raises
        ------
        gdynbook.cache.LockHeld
            If another process is running this build (two would write the same chunks).
        """
        with self.lock():
            return self._run_locked()

    def _run_locked(self) -> bool:
        state = self.equilibrate()
        if state is None:
            return False
        for index in range(self.protocol.n_runs):
            state = self.production(index, state)
            if state is None:
                return False
        return True


def compare_time_steps(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Li⁺ diffusion and TFSI switch rates of the two time-step-check trajectories in
    ``folder`` (``hmr.xtc``, ``natural.xtc``, ``topology.pdb``).

    Per segment: the pooled values. ``difference`` (HMR − natural): for each quantity
    the mean over Li⁺ of the per-Li⁺ difference (the segments start from the same
    state, so each Li⁺ is paired with itself) and its standard error over Li⁺ — a
    lower bound on the uncertainty, as the Li⁺ share a box — and ``z``, the
    difference in standard errors (None when that error is 0).
    """
    import mdtraj

    from gdynbook.systems.peo_litfsi.runs import LI_O_SHELL_A, durable_switches, pair_distances
    from gdynbook.trajectory import load_trajectory
    from gdynbook.transport import diffusion_coefficient, mean_squared_displacement

    folder = Path(folder)
    topology_path = folder / "topology.pdb"
    top = mdtraj.load_topology(str(topology_path))
    li = top.select("element Li")
    tfsi_o = top.select("resname TFS and element O")
    out: dict[str, Any] = {}
    per_li: dict[str, dict[str, np.ndarray]] = {}
    for name in ("hmr", "natural"):
        traj = load_trajectory(folder / f"{name}.xtc", topology=top, target="element Li")
        traj.wrapped = False
        lags = np.unique(np.linspace(1, traj.n_frames // 2, 10).astype(int))
        msd = mean_squared_displacement(traj, lags)
        near = (pair_distances(traj, li, tfsi_o) < LI_O_SHELL_A).any(axis=-1)
        min_frames = max(1, int(round(20.0 / traj.time_step_ps)))
        duration_ns = traj.n_frames * traj.time_step_ps / 1000
        switches = durable_switches(near, min_frames)
        out[name] = {
            "li_diffusion_a2_per_ps": diffusion_coefficient(lags * traj.time_step_ps, msd),
            "tfsi_switches_per_li_per_ns": float(switches.mean() / duration_ns),
            "fraction_li_with_tfsi": float(near.mean()),
            "duration_ps": traj.duration_ps,
        }
        per_li[name] = {
            "li_diffusion_a2_per_ps": np.array(
                [
                    diffusion_coefficient(
                        lags * traj.time_step_ps,
                        mean_squared_displacement(traj, lags, [atom]),
                    )
                    for atom in li
                ]
            ),
            "tfsi_switches_per_li_per_ns": switches / duration_ns,
            "fraction_li_with_tfsi": near.mean(axis=0),
        }
    difference: dict[str, Any] = {}
    for key in per_li["hmr"]:
        paired = per_li["hmr"][key] - per_li["natural"][key]
        error = float(paired.std(ddof=1) / np.sqrt(paired.size)) if paired.size > 1 else 0.0
        mean = float(paired.mean())
        difference[key] = {
            "mean": mean,
            "standard_error": error,
            "z": mean / error if error > 0 else None,
            "n_li": int(paired.size),
        }
    out["difference"] = difference
    return out
