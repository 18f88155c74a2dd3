"""``python -m examples.learning``: migrate, load the demo data, serve on port 8001 (lamina's
``serve`` reads ``LAMINA_DATABASE_URL``, ``HOST``, ``PORT``, ``WORKERS``, ``LAMINA_DEMO=0``…)."""

from examples.learning.base import LearningBase
from examples.learning.demo import LOGINS, load_demo
from lamina.api import DemoData, serve
from lamina.persistence import MigrationConfig

if __name__ == "__main__":
    serve(
        "examples.learning.app:create_app",
        name="learning",
        migrations=MigrationConfig.beside(LearningBase),
        demo=DemoData(load_demo, logins=LOGINS),
        port=8001,
    )
