"""Model systems that gdynbook simulates itself (no downloads).

* :mod:`gdynbook.systems.brownian` — free Brownian particles in a periodic cell, whose
  diffusion is known exactly.
* :mod:`gdynbook.systems.fcc_sites` — a Markov jump model of Li between the tetrahedral
  and octahedral holes of an fcc S cell (a fast test system with a known answer).
* :mod:`gdynbook.systems.peo_litfsi` — the PEO/LiTFSI polymer electrolyte (OpenMM).
"""
