"""The application layer: use cases over repositories, with access policies and tenant scoping.

A :class:`Service` runs the use cases of one entity type for one principal.
Its :class:`Scope` decides which rows the principal can see (the filters every
repository query carries); its :class:`Policy` decides what it may do with them.
"""

from lamina.service.links import BoundLinks, Links
from lamina.service.members import Members
from lamina.service.policy import Action, Policy
from lamina.service.scopes import (
    Filtered,
    MemberOf,
    OwnedBy,
    Scope,
    Target,
    TenantIds,
    Unscoped,
    Within,
    principal_id,
    unmet_filter,
    unmet_in_database,
    unmet_scope,
)
from lamina.service.service import Service, referent_name
from lamina.service.transitions import Guard, Transition

__all__ = [
    "Action",
    "BoundLinks",
    "Filtered",
    "Guard",
    "Links",
    "MemberOf",
    "Members",
    "OwnedBy",
    "Policy",
    "Scope",
    "Service",
    "Target",
    "TenantIds",
    "Transition",
    "Unscoped",
    "Within",
    "principal_id",
    "referent_name",
    "unmet_filter",
    "unmet_in_database",
    "unmet_scope",
]
