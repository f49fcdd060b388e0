"""Type aliases shared by the facade, the backends and the stubs."""

from __future__ import annotations

from typing import Union

NodeId = Union[str, int]

__all__ = ["NodeId"]
