# lamina — common tasks. Every target installs into .venv first (idempotent).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BENCH_POSTGRES_URL ?= $(or $(LAMINA_BENCH_POSTGRES_URL),postgresql+asyncpg://postgres@127.0.0.1:5432/test)
BENCH_NATS_URL ?= $(or $(LAMINA_BENCH_NATS_URL),nats://127.0.0.1:4222)

.PHONY: install run learning etl quickstart test lint bench relay-bench load

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

run: install
	$(BIN)/python -m examples.chat

# The e-learning reference service on port 8001 (examples/learning).
learning: install
	$(BIN)/python -m examples.learning

# The ETL registry on port 8002 (examples/etl).
etl: install
	$(BIN)/python -m examples.etl

quickstart: install
	$(BIN)/python examples/quickstart.py

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check src tests examples benchmarks
	$(BIN)/mypy

bench: install
	$(BIN)/python -m benchmarks
	$(BIN)/python -m benchmarks.events_bench
	$(BIN)/python -m benchmarks.http_bench
	$(BIN)/python -m benchmarks.http_bench --database-url "$(BENCH_POSTGRES_URL)"
	$(BIN)/python -m benchmarks.encryption_bench --database-url "$(BENCH_POSTGRES_URL)"
	$(MAKE) relay-bench

# The relay to NATS JetStream (on $(BENCH_NATS_URL)): throughput, and commit → consumer latency.
relay-bench: install
	$(BIN)/python -m benchmarks.relay_bench --database-url "$(BENCH_POSTGRES_URL)" --nats "$(BENCH_NATS_URL)"

# The chat service under sustained concurrent load: PostgreSQL (WORKERS=2, a database of its own
# on BENCH_POSTGRES_URL's server), then SQLite; exits 1 if an integrity check fails.
load: install
	$(BIN)/python -m benchmarks.load --postgres "$(BENCH_POSTGRES_URL)"
