"""``python -m examples.etl``: migrate, load the demo data, serve on port 8002 (lamina's
``serve`` reads ``LAMINA_DATABASE_URL``, ``HOST``, ``PORT``, ``WORKERS``, ``LAMINA_KEYS``…)."""

from examples.etl.demo import LOGINS, load_demo
from examples.etl.rows import EtlTable
from lamina.api import DemoData, serve
from lamina.persistence import MigrationConfig

if __name__ == "__main__":
    serve(
        "examples.etl.app:create_app",
        name="etl",
        migrations=MigrationConfig.beside(EtlTable),
        demo=DemoData(load_demo, logins=LOGINS),
        port=8002,
        encryption_keys=True,
    )
