"""Money in domain models: ISO 4217 currency codes and the ``Price`` value object."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field, StringConstraints

from lamina.domain.entity import ValueObject

CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$", max_length=3)]
"""An ISO 4217 currency code: three upper-case letters (``EUR``, ``USD``)."""


class Price(ValueObject):
    """What something costs: an amount of at least 0 with at most two decimals (and at most
    ten digits), in a currency.

    An entity's ``price: Price`` is stored in the columns ``price_amount`` and
    ``price_currency`` and filtered as ``price.amount__le=20``; a bad amount or currency is
    a 422 naming ``price.amount`` or ``price.currency``.
    """

    amount: Annotated[Decimal, Field(ge=0, max_digits=10, decimal_places=2)]
    currency: CurrencyCode

    @classmethod
    def free(cls, currency: str = "USD") -> Price:
        """Nothing to pay, in ``currency``: ``Price(amount=0, currency=currency)``."""
        return cls(amount=Decimal(0), currency=currency)
