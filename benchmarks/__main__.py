"""``python -m benchmarks``: run the benchmark harness."""

from benchmarks.run import main

raise SystemExit(main())
