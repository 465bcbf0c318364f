"""Test support that ships with the package (like ``fs.test`` and ``fsspec.tests.abstract``).

Not used by the product at run time:

- :mod:`duckpond.testing.crash`: run the ``pond`` command and kill it at a named fault point.
- :mod:`duckpond.testing.conformance`: the test suites every tinyfs backend (and every
  Persistence) must pass, as mix-in classes.
"""
