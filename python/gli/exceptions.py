"""GLI's exceptions, defined once here and raised by both backends.

The Rust engine raises these very classes (it imports this module), so
``except gli.NodeNotFoundError`` works the same on every backend.
"""

from __future__ import annotations

__all__ = [
    "GLIError",
    "NodeNotFoundError",
    "EdgeNotFoundError",
    "EdgeAlreadyExistsError",
    "NoPathError",
    "ConvergenceError",
]


class GLIError(Exception):
    """Base class of every error GLI raises on purpose."""


class _KeyErrorMessage(KeyError):
    # KeyError.__str__ shows repr(args[0]); these carry a sentence, not a key.
    def __str__(self) -> str:
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class NodeNotFoundError(GLIError, _KeyErrorMessage):
    """A node named by the call is not in the graph."""


class EdgeNotFoundError(GLIError, _KeyErrorMessage):
    """An edge (or one of its endpoints) named by the call is not in the graph."""


class EdgeAlreadyExistsError(GLIError, ValueError):
    """``add_edge`` on a pair that already has an edge."""


class NoPathError(GLIError):
    """No path joins the two nodes."""


class ConvergenceError(GLIError, RuntimeError):
    """An iterative algorithm did not converge within its iteration budget."""
