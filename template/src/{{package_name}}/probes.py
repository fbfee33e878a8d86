"""What the health probes answer, as both frameworks document it (schemas `Live`, `Ready`)."""

from pydantic import BaseModel


class Live(BaseModel):
    """The process is up and serving requests."""

    status: str


class Ready(BaseModel):
    """The service can do its work: its database answers."""

    status: str
    database: str
