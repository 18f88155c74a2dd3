"""lamina: the domain and persistence layer of business applications.

The layers, top to bottom: :mod:`lamina.api` (FastAPI routers, problem+json,
SSE), :mod:`lamina.service` (use cases and access policies),
:mod:`lamina.domain` (entities, value objects, events, errors; pure Python) and
:mod:`lamina.persistence` (database, rows, repositories, unit of work, audit
log, event store, migrations).
"""

__version__ = "0.1.0"
