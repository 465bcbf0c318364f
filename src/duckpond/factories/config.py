"""Types shared by the factories' pydantic config models.

Only validating a config imports this module (and pydantic): a factory whose node is read from
a remembered config (:meth:`duckpond.factories.registry.Factory.load`) never does.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from duckpond.factories.base import non_blank

__all__ = ["NonBlank"]

#: A config string that must not be empty or blank (pydantic annotated type).
NonBlank = Annotated[str, AfterValidator(non_blank)]
