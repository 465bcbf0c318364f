"""DuckPond's test and demo kit, shipped with the package but not part of the product's runtime.

Like ``fs.test`` (PyFilesystem2) and ``fsspec.tests.abstract``, this holds what tests, demos and
benchmarks of DuckPond (and of code built on it) need:

- :mod:`duckpond.testing.hydrovu_server`: a HydroVu-compatible API server on loopback serving
  real bundled readings (``python -m duckpond.testing.hydrovu_server --port 8765``); its data
  ships in ``duckpond/testing/data`` so it works from a wheel install.

Nothing in :mod:`duckpond` outside this package imports it.
"""
