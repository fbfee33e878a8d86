"""Request and response bodies of the items API (docs/contract.md)."""

from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator

from ..validators import Storable

Name = Annotated[str, StringConstraints(min_length=1, max_length=200), Storable]
Description = Annotated[str, StringConstraints(max_length=2000), Storable]


class ItemCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description | None = None


class ItemUpdate(BaseModel):
    """A partial update: only the fields present in the body change."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Description | None = None

    @model_validator(mode="after")
    def name_not_null(self) -> Self:
        if "name" in self.model_fields_set and self.name is None:
            raise ValueError("name cannot be null")
        return self


class ItemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str | None
    created_at: datetime
    updated_at: datetime


class ItemPage(BaseModel):
    items: list[ItemRead]
    total: int
    limit: int
    offset: int


def item_event_body(item: object) -> dict[str, Any]:
    """What an item event carries: the item as the API returns it, or its id once deleted."""
    if isinstance(item, int):
        return {"id": item}
    return ItemRead.model_validate(item).model_dump(mode="json")
