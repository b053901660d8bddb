"""Model systems that gdynbook simulates itself (no downloads).

* :mod:`gdynbook.systems.brownian` — free Brownian particles in a periodic cell,
  whose diffusion is known exactly; used to show trajectories, cells and unwrapping.
"""
