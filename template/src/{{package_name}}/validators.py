"""Validators shared by the API schemas."""

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError


def _storable(value: str) -> str:
    # NUL cannot be stored in a PostgreSQL text column, and a lone surrogate (valid in JSON
    # as "\ud800") cannot be encoded to UTF-8: refuse both up front instead of failing later.
    if "\x00" in value:
        raise PydanticCustomError("string_nul_character", "String must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError(
            "string_unicode", "String must be valid Unicode (no lone surrogates)"
        ) from None
    return value


Storable = AfterValidator(_storable)
"""Refuses strings that a supported database cannot store and return unchanged."""
