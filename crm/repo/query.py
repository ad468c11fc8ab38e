"""Small query helpers the repository functions share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Integer, Row, Select, bindparam, exists, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

T = TypeVar("T")
Rows = Sequence[Row[Any]]
Columns = Select[*tuple[Any, ...]]
"""A select of columns (SQLAlchemy Core)."""
LIMIT, OFFSET = bindparam("limit", type_=Integer), bindparam("offset", type_=Integer)
"""A page of a list, as statement parameters."""


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


def given(filters: Mapping[str, object]) -> dict[str, object]:
    """The filters that were given (None and "" mean: any), as ``where_named`` takes them."""
    return {name: value for name, value in filters.items() if value is not None and value != ""}


def where_named(query: Columns, model: type, names: Sequence[str]) -> Columns:
    """Keep the rows whose column of each name equals the parameter of that name: the
    statement of a list, built once for each set of filters a request gives."""
    for name in names:
        query = query.where(getattr(model, name) == bindparam(name))
    return query


async def rows(connection: AsyncConnection, statement: Any, parameters: Mapping[str, Any]
               ) -> Rows:
    """The rows of a statement built once (SQLAlchemy Core: no ORM objects made)."""
    return (await connection.execute(statement, parameters)).all()


def records(rows: Rows) -> list[dict[str, Any]]:
    """The rows as dicts, which pydantic validates several times faster than rows read by
    their attributes (``from_attributes``)."""
    if not rows:
        return []
    names = rows[0]._fields  # the same for every row (and not free to ask)
    return [dict(zip(names, row, strict=True)) for row in rows]


def record(row: Row[Any]) -> dict[str, Any]:
    return dict(zip(row._fields, row, strict=True))


async def exists_with_id(connection: AsyncConnection, model: type, object_id: int) -> bool:
    key = model.id  # type: ignore[attr-defined]
    return bool(await connection.scalar(select(exists().where(key == object_id))))
