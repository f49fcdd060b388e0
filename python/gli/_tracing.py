"""FFI tracing: ``gli.enable_tracing()`` logs every call into the Rust engine
(method, input size, duration) and every predicate batch crossing to the
``logging`` logger ``"gli"``. The Rust side emits ``tracing`` events; GLI's
subscriber forwards them to that logger. Off, it costs one atomic load per call.
"""

from __future__ import annotations

import logging
import os
import threading

from . import _core

__all__ = ["enable_tracing", "disable_tracing", "tracing_enabled"]

_logger = logging.getLogger("gli")
_state_lock = threading.Lock()
_handler: logging.Handler | None = None
_enabled = False


def _level_number(level: int | str) -> int:
    if isinstance(level, bool) or not isinstance(level, (int, str)):
        raise TypeError(f"level must be a logging level name or number, not {type(level).__name__}")
    if isinstance(level, str):
        number = logging.getLevelName(level.upper())
        if not isinstance(number, int):
            raise ValueError(f"unknown logging level {level!r}")
        return number
    return level


def enable_tracing(level: int | str = "DEBUG") -> None:
    """Logs every call into the engine to ``logging.getLogger("gli")`` at ``level``.

    The logger's level is lowered to ``level`` if needed. When neither the
    ``gli`` logger nor the root logger has a handler, a stderr handler is
    added (and removed again by :func:`disable_tracing`).
    """
    global _handler, _enabled
    number = _level_number(level)
    with _state_lock:
        if _logger.level == logging.NOTSET or _logger.level > number:
            _logger.setLevel(number)
        if _handler is None and not _logger.handlers and not logging.getLogger().handlers:
            _handler = logging.StreamHandler()
            _handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(threadName)s: %(message)s"))
            _logger.addHandler(_handler)
        _core._set_tracing(True, number)
        _enabled = True


def disable_tracing() -> None:
    """Stops tracing (and removes the handler :func:`enable_tracing` added)."""
    global _handler, _enabled
    with _state_lock:
        _core._set_tracing(False)
        if _handler is not None:
            _logger.removeHandler(_handler)
            _handler = None
        _enabled = False


def tracing_enabled() -> bool:
    return _enabled


def _from_environment() -> None:
    """``GLI_TRACE=1`` (or a level name such as ``GLI_TRACE=INFO``) enables tracing at import."""
    value = os.environ.get("GLI_TRACE", "").strip()
    if value and value not in ("0", "false", "False", "no"):
        enable_tracing("DEBUG" if value in ("1", "true", "True", "yes") else value)
