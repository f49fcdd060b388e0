"""Argument checks of the pure-Python backend, written to accept and refuse
exactly what the rust backend's PyO3 extraction does (the backends are
compared exactly, errors included)."""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from ._types import NodeId
from .exceptions import EdgeNotFoundError, NodeNotFoundError

_I64 = (-(2**63), 2**63 - 1)


def _is_i64(v: object) -> bool:
    """An ``int`` (not a subclass) that fits 64 bits: what the rust backend stores as one."""
    return type(v) is int and _I64[0] <= v <= _I64[1]


def batch_items(method: str, items: Any) -> Any:
    """A batch's items as both backends read them: a numpy array (of at
    least one dimension) as the objects ``tolist()`` makes, each row of a 2-D
    (or deeper) array as a tuple, so ``np.array([[1, 2], [2, 3]])`` is the
    edges ``(1, 2), (2, 3)``; anything else as given. An ndarray subclass
    whose ``tolist()`` makes anything but a list (of lists; exactly
    ``list``) is a ``TypeError`` naming ``method``, as is what cannot be
    iterated at all."""
    t = type(items)
    if not (hasattr(t, "__iter__") or hasattr(t, "__getitem__")):
        raise TypeError(f"{method}: expected an iterable, not {t.__name__}")
    if isinstance(items, np.ndarray) and items.ndim:
        def junk(what: str, got: object) -> TypeError:
            return TypeError(f"{method}: {type(items).__name__}.tolist() returned {what}{type(got).__name__}, not a list")

        rows = items.tolist()
        # exactly a list (of lists), as numpy makes: a subclass could index
        # and iterate differently, and the two backends read it one way each
        if type(rows) is not list:
            raise junk("", rows)
        if items.ndim == 1:
            return rows
        for row in rows:
            if type(row) is not list:
                raise junk("a row of type ", row)
        return [tuple(r) for r in rows]
    return items


def read_items(method: str, items: Any) -> list[Any]:
    """:func:`batch_items` read into a list by iteration alone, as the rust
    backend reads a batch: ``list()`` would ask ``len()`` for a size hint and
    fail on a ``__len__`` that raises or returns a negative number."""
    return [x for x in batch_items(method, items)]


def _item_id(method: str, index: int, x: object) -> NodeId:
    try:
        return _check_id(x)
    except UnicodeEncodeError as e:  # a lone surrogate: still that error, the item named in its reason
        raise UnicodeEncodeError(e.encoding, e.object, e.start, e.end, f"{e.reason} ({method}: item {index})") from None
    except (TypeError, OverflowError) as e:
        raise type(e)(f"{method}: item {index}: {e}") from None


def _item_ref(method: str, index: int, x: object) -> int | str:
    """A batch item's id to look up, as the rust backend's: a wrong type
    raises naming the item; an ``int`` beyond 64 bits or a ``str`` with a
    lone surrogate passes as its plain value, a node no graph has (the
    lookup raises ``NodeNotFoundError`` naming it)."""
    try:
        return _plain_id(x)
    except TypeError as e:
        raise TypeError(f"{method}: item {index}: {e}") from None


def names_python_backend(backend: object) -> bool:
    """Whether ``backend`` names the reference backend: by a ``str``'s text
    (a ``str`` subclass's own ``==``, or an array's, could answer anything;
    the native constructor reads the text too, and refuses what is not a
    ``str``)."""
    return isinstance(backend, str) and str.__eq__(backend, "python")


def at_item(method: str, index: int, e: Exception) -> Exception:
    """``e`` again, naming batch item ``index`` of ``method`` (a failure the
    batch met as a whole): the same class, as the rust backend raises it."""
    return type(e)(f"{method}: item {index}: {e}")


def index_or_none(v: object) -> int | None:
    """``operator.index(v)``, or ``None`` where it raises ``TypeError`` (a
    NumPy array of one element has ``__index__`` and refuses), as the rust
    backend's int extraction reads it; other errors propagate."""
    try:
        return operator.index(v)  # type: ignore[arg-type]
    except TypeError:
        return None


def _count(method: str, name: str, v: object) -> int:
    """A non-negative integer argument, checked as the rust backend checks it
    (an int beyond 64 bits is larger than any graph: no bound)."""
    n = None if isinstance(v, bool) else index_or_none(v)  # `k=True` is a slip, not a count of 1
    if n is None:
        raise TypeError(f"{method}: {name} must be an int, not {type(v).__name__}")
    if n < 0:
        raise ValueError(f"{method}: {name} must be >= 0, got {n}")
    return n


def _real(method: str, name: str, v: object) -> float:
    """A float argument, accepted as the rust backend's ``f64`` extraction
    accepts it, except a ``bool`` (a numpy bool too): no real number here, as
    it is no count to ``_count`` and no numeric value to a column."""
    if isinstance(v, (str, bytes, bytearray, bool, np.bool_)) or not hasattr(type(v), "__float__") and not hasattr(type(v), "__index__"):
        raise TypeError(f"{method}: {name} must be a real number, not {type(v).__name__}")
    if isinstance(v, float):  # its stored value, as the rust backend's PyFloat_AsDouble reads a subclass
        return float.__float__(v)
    try:
        return float(v)  # type: ignore[arg-type]
    except OverflowError:
        raise OverflowError(f"{method}: {name} does not fit in a float, got {v}") from None
    except TypeError:
        # A ``__float__`` that refuses (a NumPy array of more than one
        # element): no real number, as the rust backend says.
        raise TypeError(f"{method}: {name} must be a real number, not {type(v).__name__}") from None


def _name(v: object, method: str, param: str, optional: bool = False) -> Any:
    """An attribute-name argument: a ``str`` (or ``None`` when ``optional``);
    a ``TypeError`` naming ``method`` and ``param``, as the rust backend's."""
    if not isinstance(v, str) and not (optional and v is None):
        want = "a str or None" if optional else "a str"
        raise TypeError(f"{method}: {param} must be {want}, not {type(v).__name__}")
    return v if v is None else _utf8(v)


def _flag(v: object, method: str, param: str) -> bool:
    """A ``bool`` argument: ``True`` or ``False`` (or a numpy bool), as the
    rust backend wants; a ``TypeError`` naming ``method`` and ``param``."""
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{method}: {param} must be a bool, not {type(v).__name__}")
    return bool(v)


def _number(v: object) -> bool | int | float | None:
    """The number a stored value is or stands for (the rust backend's
    ``number_of``): a ``bool``, an ``int`` that fits 64 bits or a ``float``;
    an ``int`` (of 64 bits) or ``float`` subclass instance's own value; a
    numpy number's or bool's ``.item()`` when that is one of these (not a
    ``datetime64``'s or ``timedelta64``'s). ``None`` for anything else, an ``int`` beyond 64 bits
    included. The object's own type decides, not a ``__class__`` it claims."""
    t = type(v)
    if t in (bool, float) or _is_i64(v):
        return v  # type: ignore[return-value]
    if issubclass(t, int):
        i = int.__int__(cast(int, v))
        return i if _I64[0] <= i <= _I64[1] else None
    if issubclass(t, float):
        return float.__float__(cast(float, v))
    if issubclass(t, (np.number, np.bool_)) and not issubclass(t, np.timedelta64):
        item = cast(np.generic, v).item()
        if item is not v and type(item) in (bool, int, float):
            return _number(item)
    return None


def _numeric(v: object) -> bool:
    """DESIGN's "numeric": a number (see ``_number``) that is not a ``bool``."""
    n = _number(v)
    return n is not None and type(n) is not bool


def _plain_id(x: object) -> int | str:
    """The plain ``int`` or ``str`` value of ``x`` (a subclass instance, such
    as an ``IntEnum`` member, names its plain value, as in the rust backend,
    which stores the value); ``TypeError`` for any other type or a ``bool``.
    The type is ``type(x)``, as the rust backend reads it: ``isinstance``
    would believe an object that fakes its ``__class__`` (a ``Mock(spec=str)``)."""
    kind = type(x)
    if issubclass(kind, bool) or not issubclass(kind, (int, str)):
        raise TypeError(f"node id must be str or int, not {kind.__name__}")
    if issubclass(kind, int):
        return cast(int, x) if kind is int else int.__int__(cast(int, x))
    return _text(cast(str, x))


def _check_id(x: object) -> NodeId:
    """``x`` as the node id it names (``_plain_id``), which must fit a
    stored id: 64 bits, UTF-8 text."""
    x = _plain_id(x)
    if isinstance(x, int):
        if not _I64[0] <= x <= _I64[1]:
            raise OverflowError(f"node id {_plain_repr(x)} does not fit in a signed 64-bit integer")
        return x
    return _utf8(x)


def _lookup_ids(*xs: object, edge: bool = False) -> tuple[NodeId, ...]:
    """The ids ``xs`` name, for a lookup, as the rust backend's ``lookup_refs``:
    a wrong type raises ``TypeError`` (every id's type checked first, in
    order); then an ``int`` beyond 64 bits or a ``str`` with a lone surrogate,
    which no node can have, raises as the missing node it names (the first
    such id), or as the missing edge when ``edge``."""
    return tuple(_lookup(xs, None, edge))


def _lookup_items(method: str, xs: list[object]) -> list[NodeId]:
    """``_lookup_ids`` of a list of ids to look up, as the rust backend's
    ``item_refs``: a wrong type raises naming its item."""
    return _lookup(xs, method, False)


def _lookup(xs: Sequence[object], method: str | None, edge: bool) -> list[NodeId]:
    """``_lookup_ids`` / ``_lookup_items``: ``method`` names the item of a wrong type."""
    ids: list[NodeId | None] = []
    for i, x in enumerate(xs):
        try:
            ids.append(_check_id(x))
        except TypeError as e:
            if method is None:
                raise
            raise TypeError(f"{method}: item {i}: {e}") from None
        except (OverflowError, UnicodeEncodeError):
            ids.append(None)
    if None in ids:
        if edge:
            raise EdgeNotFoundError(f"Edge {_plain_repr(xs[0])} -> {_plain_repr(xs[1])} not found")
        raise NodeNotFoundError(f"Node {_plain_repr(xs[ids.index(None)])} not found")
    return cast(list[NodeId], ids)


def _plain_repr(x: object) -> str:
    """The repr of the plain ``int`` or ``str`` value of ``x``, as a stored id
    of that value prints; an ``int`` past CPython's digit limit for ``repr``
    is named by its size."""
    if isinstance(x, int):
        try:
            return int.__repr__(x)
        except ValueError:
            return f"<an int of {int.bit_length(x)} bits>"
    return str.__repr__(cast(str, x))


def _text(s: str) -> str:
    """A ``str``'s own text as an exact ``str``: the rust backend keys
    attribute names by their text, while a subclass may hash by identity
    (two keys with one text) or override ``__str__``."""
    return s if type(s) is str else str.__str__(s)


def _is_lone(s: str) -> bool:
    """Whether ``s`` holds a lone surrogate (no UTF-8 text)."""
    try:
        _utf8(s)
    except UnicodeEncodeError:
        return True
    return False


def _utf8(s: str) -> str:
    """``s``, or ``UnicodeEncodeError`` (a ``ValueError``) when it holds a lone
    surrogate: the rust backend keeps ids, names and strings as UTF-8."""
    if not s.isascii():
        s.encode("utf-8")
    return s


def _kind(v: object) -> str:
    """How the rust backend names a value's kind in its errors."""
    if v is None:
        return "None"
    if type(v) is str and _is_lone(v):  # kept as an object by the rust backend
        return "a Python object that is not a number"
    if type(v) in (bool, float, str, list) or _is_i64(v):
        return type(v).__name__
    if type(v) is dict and all(type(k) is str for k in v):
        return "dict"
    if type(_number(v)) is bool:
        return "bool"
    return "a Python object that is not a number"


def _float_text(x: float) -> str:
    """``x`` as the rust backend prints an ``f64`` in its errors: no exponent,
    no ``.0`` (``-1``, ``0.000001``), ``NaN``, ``inf``; an ``int`` in full."""
    if isinstance(x, int):
        return str(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return str(np.format_float_positional(x, trim="-"))
