"""The pydantic model of a ``temporal-reduce`` config (:mod:`duckpond.factories.reduce`).

Imported only to validate a config (``pond mknod``, a changed config, a config not yet
remembered in the pond's cache): the node itself uses the validated values as plain data,
:class:`duckpond.factories.reduce.ReduceSettings`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from duckpond.factories.config import NonBlank
from duckpond.times import parse_resolution

__all__ = ["Aggregation", "ReduceConfig"]

Aggregation = Literal["avg", "min", "max", "count"]


def _resolution(text: str) -> str:
    parse_resolution(text)
    return text.strip()


Resolution = Annotated[str, AfterValidator(_resolution)]


class ReduceConfig(BaseModel):
    """Config of ``temporal-reduce`` (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    input: NonBlank
    resolutions: list[Resolution] = Field(min_length=1)
    aggregations: list[Aggregation] = Field(default=["avg", "min", "max"], min_length=1)
    columns: list[NonBlank] | None = Field(default=None, min_length=1)
    time_column: NonBlank = "Timestamp"

    @field_validator("resolutions")
    @classmethod
    def _distinct_resolutions(cls, value: list[str]) -> list[str]:
        seen: dict[int, str] = {}
        for i, r in enumerate(value):
            s = parse_resolution(r)
            if s in seen:
                raise ValueError(
                    f"resolutions[{i}] {r!r} repeats {seen[s]!r} ({s} s): output names must differ"
                )
            seen[s] = r
        return value

    @field_validator("aggregations", "columns")
    @classmethod
    def _distinct(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            for i, v in enumerate(value):
                if v in value[:i]:
                    raise ValueError(f"[{i}] {v!r} is listed twice")
        return value
