"""Library operations that change or export the pond, shared by the CLI and pipelines.

- :mod:`duckpond.ops.copy`: host files in (with one set of rules for every caller), pond files out.
- :mod:`duckpond.ops.remove`: remove entries by path or glob.

Each works inside a transaction the caller opened (``with pond.transaction(args) as tx``) on
``tx.root()``, so several operations commit together.
"""
