"""End-to-end jobs: the top floor, where the package's pieces are put together.

* :mod:`gdynbook.jobs.toy` — the toy system: simulate, train a GDyNet and the
  coordinate baseline, check both against the geometry (``gdynbook toy``);
* :mod:`gdynbook.jobs.peo` — Li⁺ states in PEO/LiTFSI: cross-validate the number of
  states, train a seed ensemble (``gdynbook peo``);
* :mod:`gdynbook.jobs.peo_builds` — the same on independent builds, as the pre-registered
  analysis plan fixes it (lockbox, lag by implied timescales, staged state search);
* :mod:`gdynbook.jobs.peo_tables` — the tables the chapters print from a build job's
  ``summary.json``;
* :mod:`gdynbook.jobs.fit_store` — finished fits kept on disk, so a long job resumes and
  two processes share its fits;
* :mod:`gdynbook.jobs.own_data` — your own trajectories: train into a run directory,
  then analyse it (``gdynbook train`` / ``gdynbook analyze``);
* :mod:`gdynbook.jobs.rundir` — what every job shares: seeded training, checkpoints
  with one schema of extras, and atomic writes of JSON, arrays and figures.

Nothing below this package imports it.
"""
