"""The ETL registry reference service: components, dataclass definitions and jobs on SQLModel
tables, built on lamina's public API (``python -m examples.etl``)."""
