"""The load test of the main job (``make load``): see :mod:`benchmarks.load.__main__`."""
