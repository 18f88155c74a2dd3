"""lamina's benchmark harness: one workload through several layers, on SQLite and PostgreSQL.

Run it from the project root with ``.venv/bin/python -m benchmarks`` (``--help`` for
options). Not part of the test suite: it measures, it does not assert.
"""
