"""FFI tracing: ``gli.enable_tracing()`` logs every call into the Rust engine
(method, input size, duration) and every predicate batch crossing to the
``logging`` logger ``"gli"``. The Rust side emits ``tracing`` events; GLI's
subscriber forwards them to that logger. Off, it costs one atomic load per call.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings

from . import _core

__all__ = ["enable_tracing", "disable_tracing", "tracing_enabled"]

_logger = logging.getLogger("gli")
_state_lock = threading.Lock()
_handler: logging.Handler | None = None
_enabled = False
# The logger's own level before enable_tracing lowered it (restored on disable).
_saved_level: int | None = None


def _level_number(level: int | str) -> int:
    if isinstance(level, bool) or not isinstance(level, (int, str)):
        raise TypeError(f"level must be a logging level name or number, not {type(level).__name__}")
    if isinstance(level, str):
        number = logging.getLevelName(level.upper())
        if not isinstance(number, int):
            raise ValueError(f"unknown logging level {level!r}")
        return number
    if not -(2**31) <= level < 2**31:  # the engine keeps the level as a 32-bit int
        raise ValueError(f"logging level {level} is out of range (a 32-bit int)")
    return level


def enable_tracing(level: int | str = "DEBUG") -> None:
    """Logs every call into the engine to ``logging.getLogger("gli")`` at ``level``.

    The logger's level is lowered to ``level`` if needed. When neither the
    ``gli`` logger nor the root logger has a handler, a stderr handler is
    added (and removed again by :func:`disable_tracing`).
    """
    global _handler, _enabled, _saved_level
    number = _level_number(level)
    with _state_lock:
        if _logger.level == logging.NOTSET or _logger.level > number:
            if _saved_level is None:
                _saved_level = _logger.level
            _logger.setLevel(number)
        if _handler is None and not _logger.handlers and not logging.getLogger().handlers:
            _handler = logging.StreamHandler()
            _handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(threadName)s: %(message)s"))
            _logger.addHandler(_handler)
        _core._set_tracing(True, number)
        _enabled = True


def disable_tracing() -> None:
    """Stops tracing; removes the handler :func:`enable_tracing` added and gives
    the ``gli`` logger back the level it had before."""
    global _handler, _enabled, _saved_level
    with _state_lock:
        _core._set_tracing(False)
        if _handler is not None:
            _logger.removeHandler(_handler)
            _handler = None
        if _saved_level is not None:
            _logger.setLevel(_saved_level)
            _saved_level = None
        _enabled = False


def tracing_enabled() -> bool:
    """Whether FFI tracing is on (see :func:`enable_tracing`)."""
    return _enabled


def _from_environment() -> None:
    """``GLI_TRACE=1`` (``true``, ``yes``, ``on``), a level name (``INFO``) or a
    level number (``20``) enables tracing at import; ``0`` (``false``, ``no``,
    ``off``) or nothing leaves it off. Anything else warns and leaves it off:
    a typo in the environment must not break ``import gli``."""
    value = os.environ.get("GLI_TRACE", "").strip()
    word = value.lower()
    if word in ("", "0", "false", "no", "off"):
        return
    level: int | str = "DEBUG" if word in ("1", "true", "yes", "on") else value
    if isinstance(level, str) and level.isdigit():
        level = int(level)
    try:
        enable_tracing(level)
    except ValueError:
        warnings.warn(
            f"GLI_TRACE={value!r} is not 1/0, on/off or a logging level: tracing stays off",
            stacklevel=2,
        )
