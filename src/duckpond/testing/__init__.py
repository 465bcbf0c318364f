"""Test support that ships with the package (like ``fs.test`` and ``fsspec.tests.abstract``).

Not used by the product at run time (nothing in :mod:`duckpond` outside this package imports it):

- :mod:`duckpond.testing.crash`: run the ``pond`` command and kill it at a named fault point.
- :mod:`duckpond.testing.conformance`: the test suites every tinyfs backend (and every
  Persistence) must pass, as mix-in classes.
- :mod:`duckpond.testing.hydrovu_server`: a HydroVu-compatible API server on loopback serving
  real bundled readings (``python -m duckpond.testing.hydrovu_server --port 8765``); its data
  ships in ``duckpond/testing/data``, so it works from a wheel install.
"""
