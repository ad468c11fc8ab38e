"""Small query helpers the repository functions share."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

T = TypeVar("T")


def where_given(query: Select[Any], filters: dict[InstrumentedAttribute[Any], object]
                ) -> Select[Any]:
    """Keep the rows equal to each filter that was given (None and "" mean: any)."""
    for column, value in filters.items():
        if value is not None and value != "":
            query = query.where(column == value)
    return query


async def by_idempotency_key(session: AsyncSession, model: type[T], key: str) -> T | None:
    """The row already made under this key, if any."""
    column = model.idempotency_key  # type: ignore[attr-defined]
    return await session.scalar(select(model).where(column == key))
