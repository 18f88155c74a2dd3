"""Demo data, made through the services: an owner, a viewer, a project with a pipeline of three
components (one with a secret), a dataclass definition and a tagged job."""

from examples.etl import domain as d
from examples.etl import services as s
from lamina.persistence import Database
from lamina.security import demo_accounts

LOGINS = [("olga", "olga-demo-password"), ("victor", "victor-demo-password")]


async def load_demo(db: Database) -> bool:
    """Create the demo data unless it is there; True if it was created now."""
    users = await demo_accounts(db, d.User, LOGINS)
    if users is None:
        return False
    olga, victor = users
    project = await s.ProjectService(db, olga).create({"name": "Sales warehouse"})
    await s.members.join(db, project.id, victor, "viewer")
    components, made = s.ComponentService(db, olga), []
    for name, kind in [
        ("crm-extract", "extractor"),
        ("clean", "transformer"),
        ("warehouse-load", "loader"),
    ]:
        config = {"url": "postgresql://etl@warehouse/sales", "password": "demo-secret"}
        secret = {"configuration": config, "secret_keys": ["password"]}
        values = {"project_id": project.id, "name": name, "component_type": kind}
        made.append(await components.create({**values, **(secret if kind == "loader" else {})}))
    for first, then in zip(made[1:], made, strict=False):
        await components.dependencies.add(first.id, then.id)
    amount = {"amount": {"type": "number"}}
    schema = {"type": "object", "properties": amount, "required": ["amount"]}
    await s.DataclassService(db, olga).create(
        {
            "project_id": project.id,
            "name": "Sale",
            "dataclass_type": "record",
            "schema_definition": schema,
            "component_id": made[0].id,
            "validation_rules": [{"kind": "range", "field": "amount", "min": 0}],
        }
    )
    jobs = s.JobService(db, olga)
    job = await jobs.create({"project_id": project.id, "name": "nightly-sales"})
    await jobs.set_components(job.id, [c.id for c in made])
    await jobs.tags.add(job.id, "nightly")
    return True
