"""``filter_nodes`` / ``filter_edges`` of the pure-Python reference backend.

Same semantics as the Rust backend, written for obviousness: the filter takes
a snapshot under the graph's lock (shallow copies of the attribute dicts, whose
stored values are never mutated in place), releases the lock, then calls the
predicate, so a predicate may read and mutate the graph without changing the
result. ``where`` compares like the engine does: Python ``==`` between native
scalars (str, int within 64 bits, float, bool, None); anything else never
matches.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from collections.abc import Set as AbcSet
from typing import TYPE_CHECKING, Any, cast, overload

import numpy as np

from ._args import _flag, _is_i64, _number, _numeric, _text, _utf8, index_or_none
from . import _pygraph  # circular: its attributes are read at call time

__all__ = ["PythonFilters", "AttributeView", "AttributeBatch", "DEFAULT_BATCH", "DEFAULT_VECTOR_BATCH"]

# The Rust backend's defaults (see src/python/filter.rs): the same numbers of
# vectorized calls on both backends.
DEFAULT_BATCH = 16_384
DEFAULT_VECTOR_BATCH = 65_536

_MISSING = object()


def _where_form(v: object) -> object:
    """What a stored value compares as in ``where``: ``None`` or a ``str`` as
    itself, a ``str`` subclass instance as its own text (``np.str_("a")``
    equals ``"a"``; its ``__eq__`` is not asked), anything else as the
    number it stands for, an ``int`` (or numpy integer) beyond 64 bits as its
    own value (``_MISSING``, equal to nothing, when none of these)."""
    if v is None or type(v) is str:
        return v
    t = type(v)  # its own type, not a __class__ it claims (as _number)
    if issubclass(t, str):
        return _text(cast(str, v))  # lone surrogates too: text equals text
    n = _number(v)
    if n is not None:
        return n
    # Beyond 64 bits: equal to the same int, or to the float it is exactly.
    if issubclass(t, int):
        return int.__int__(cast(int, v))
    if issubclass(t, np.integer) and not issubclass(t, np.timedelta64):  # np.uint64(2**64 - 1)
        return cast(np.integer, v).item()
    return _MISSING


def _where_value(method: str, name: str, v: object) -> object:
    if isinstance(v, np.generic):  # a numpy scalar means its Python value
        v = v.item()
    # A subclass instance means its plain value, as in the rust backend: its
    # ``__eq__`` is never asked.
    if isinstance(v, str):
        return _text(v)  # with lone surrogates, equal to the same stored text
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, float):
        return float.__float__(v)
    if isinstance(v, int):
        # Beyond 64 bits too: Python's == between ints, and between an int
        # and a float, is exact, as the rust backend compares them.
        return int.__int__(v)
    raise TypeError(
        f"{method}: where[{str.__repr__(name)}] must be str, int, float, bool or None, not {type(v).__name__}"
    )




def _as_name(key: Any) -> Any:
    """A view's key as the stored names are kept: a ``str`` by its text
    (see ``_text``), anything else as it is (absent, or unhashable)."""
    return _text(key) if isinstance(key, str) else key


class AttributeView(Mapping[str, Any]):
    """Read-only mapping over one node's (or edge's) attributes in a snapshot."""

    __slots__ = ("_d",)

    def __init__(self, stored: dict[str, Any]) -> None:
        self._d = stored

    def __getitem__(self, key: str) -> Any:
        return _pygraph._read(self._d[_as_name(key)])

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._d))

    def __len__(self) -> int:
        return len(self._d)

    def __contains__(self, key: object) -> bool:
        return _as_name(key) in self._d

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):  # as the dict it shows compares with `other` (its __eq__ consulted too)
            return bool(dict(self.items()) == other)  # a bool, as the rust backend's
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        """To NumPy, one object (a 0-d object array holding the view), as the
        rust backend's view and a ``dict`` are: a mapping written in Python
        has ``__getitem__`` and ``__len__``, which NumPy takes for a sequence
        (an audit: ``view == np.int64(1)`` gave an array here, ``False``
        there, and ``np.float64(1) in batch`` raised)."""
        if dtype is not None and np.dtype(dtype) != np.dtype(object):
            raise TypeError(f"an attribute view is no array of {np.dtype(dtype)}")
        out = np.empty((), dtype=object)
        out[()] = self
        return out

    def __reduce__(self) -> tuple[type[dict[str, Any]], tuple[dict[str, Any]]]:
        return dict, (dict(self.items()),)  # pickled and copied as the dict it shows

    def __repr__(self) -> str:
        return f"AttributeView({dict(self.items())!r})"


class AttributeBatch(Sequence[AttributeView]):
    """The nodes of one vectorized batch; ``column(name)`` gives a column."""

    __slots__ = ("_rows",)

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> AttributeView: ...
    @overload
    def __getitem__(self, index: slice) -> list[AttributeView]: ...
    def __getitem__(self, index: int | slice) -> AttributeView | list[AttributeView]:
        if isinstance(index, slice):  # the rows' views, as slicing a list of them would
            return [AttributeView(r) for r in self._rows[index]]
        got = None if isinstance(index, bool) else index_or_none(index)  # numpy ints too, as the rust backend
        if got is None:
            raise TypeError(f"batch indices must be integers or slices, not {type(index).__name__}")
        index = got
        n = len(self._rows)
        i = index + n if index < 0 else index
        if not 0 <= i < n:
            raise IndexError(f"batch index {index} out of range for a batch of {n}")
        return AttributeView(self._rows[i])

    def index(self, value: Any, start: Any = None, stop: Any = None, /) -> int:
        # As list.index (and the rust backend): the bounds as a slice's.
        lo, hi, _ = slice(start, stop).indices(len(self._rows))
        for i in range(lo, hi):
            if AttributeView(self._rows[i]) == value:
                return i
        raise ValueError("value is not in the batch")

    def column(self, name: str, default: Any = None) -> Any:
        if not isinstance(name, str):
            raise TypeError(f"column: attribute name must be str, not {type(name).__name__}")
        name = _utf8(_text(name))
        vals = [r.get(name, _MISSING) for r in self._rows]
        nums = [_number(v) for v in vals]
        if nums and all(type(x) is int for x in nums):
            return np.array(nums, dtype=np.int64)
        if nums and all(type(x) is bool for x in nums):
            return np.array(nums, dtype=bool)
        # A default that stands for a number (a numpy scalar) counts as that number.
        d = default if default is None or isinstance(default, (int, float)) else _number(default)
        if default is None or (isinstance(d, (int, float)) and not isinstance(d, bool)):
            # a float (subclass) as its stored value, as the rust backend's
            # PyFloat_AsDouble reads it (its own __float__ is not asked)
            fill = math.nan if d is None else float.__float__(d) if isinstance(d, float) else float(d)
            # numeric: int (64-bit) or float, never bool (beside other values)
            numeric = all(v is _MISSING or _numeric(v) for v in vals)
            if numeric:
                return np.array(
                    [fill if v is _MISSING else float(x) for v, x in zip(vals, nums)],  # type: ignore[arg-type]
                    dtype=np.float64,
                )
        return [default if v is _MISSING else _pygraph._read(v) for v in vals]

    def __reduce__(self) -> tuple[type[list[dict[str, Any]]], tuple[list[dict[str, Any]]]]:
        return list, ([dict(AttributeView(r).items()) for r in self._rows],)

    def __repr__(self) -> str:
        return f"<gli.AttributeBatch of {len(self._rows)} nodes>"


def _type_name(x: object) -> str:
    return type(x).__name__


class PythonFilters:
    """Mixin: needs ``_lock``, ``_nodes`` and ``_edge_items``."""

    __slots__ = ()

    _lock: threading.RLock
    _nodes: dict[Any, dict[str, Any]]

    if TYPE_CHECKING:  # the host class provides it (never defined at run time)

        def _edge_items(self) -> Iterator[tuple[Any, Any, dict[str, Any]]]: ...

    @staticmethod
    def _filter_args(
        method: str, predicate: Any, where: Any, batch_size: Any, default_batch: int
    ) -> tuple[Callable[..., Any] | None, list[tuple[str, object]], int]:
        if predicate is not None and not callable(predicate):
            raise TypeError(f"{method}: predicate must be callable, not {_type_name(predicate)}")
        if batch_size is None:
            size = default_batch
        else:
            # An int, or an integer that converts to one (a numpy int), not a bool.
            got = None if isinstance(batch_size, bool) else index_or_none(batch_size)
            if got is None:
                raise TypeError(f"{method}: batch_size must be an int or None, not {_type_name(batch_size)}")
            size = got
            if size < 1:
                raise ValueError(f"{method}: batch_size must be at least 1, got {size}")
        conds: list[tuple[str, object]] = []
        if where is not None:
            if not isinstance(where, dict):
                raise TypeError(
                    f"{method}: where must be a dict of attribute values, not {_type_name(where)}"
                )
            for k, v in dict.items(where):  # a subclass's own items() is not asked, as in rust
                if not isinstance(k, str):
                    raise TypeError(
                        f"{method}: where keys must be attribute names (str), not {_type_name(k)}"
                    )
                conds.append((_text(k), _where_value(method, k, v)))  # lone surrogates: no name, no match
        return predicate, conds, size

    @staticmethod
    def _passes(attrs: dict[str, Any], conds: list[tuple[str, object]]) -> bool:
        for name, want in conds:
            v = attrs.get(name, _MISSING)
            if v is _MISSING or not _where_form(v) == want:
                return False
        return True

    def filter_nodes(
        self,
        predicate: Callable[..., Any] | None = None,
        *,
        where: dict[str, Any] | None = None,
        batch_size: int | None = None,
        vectorized: bool = False,
    ) -> list[Any]:
        vectorized = _flag(vectorized, "filter_nodes", "vectorized")
        default = DEFAULT_VECTOR_BATCH if vectorized else DEFAULT_BATCH
        pred, conds, size = self._filter_args("filter_nodes", predicate, where, batch_size, default)
        if vectorized and pred is None:
            raise ValueError("filter_nodes: vectorized=True needs a predicate")
        with self._lock:
            cands = [(n, dict(a)) for n, a in self._nodes.items() if self._passes(a, conds)]
        if pred is None:
            return [n for n, _ in cands]
        out = []
        if not vectorized:
            for n, a in cands:
                if pred(n, AttributeView(a)):
                    out.append(n)
            return out
        for start in range(0, len(cands), size):
            chunk = cands[start : start + size]
            ids = [n for n, _ in chunk]
            res = pred(ids, AttributeBatch([a for _, a in chunk]))
            try:
                # Sized and iterable, but no sequence of truth values: a set
                # iterates in an order of its own, a mapping its keys.
                if isinstance(res, (str, bytes, bytearray, AbcSet, Mapping)):
                    raise TypeError
                got = len(res)
            except TypeError:
                raise TypeError(
                    "filter_nodes: the vectorized predicate must return a sequence of truth "
                    f"values, not {_type_name(res)}"
                ) from None
            if got == len(chunk):
                keeps = [bool(x) for x in res]
                got = len(keeps)  # what it iterates, whatever its ``len()`` said
            if got != len(chunk):
                raise ValueError(
                    f"filter_nodes: the vectorized predicate returned {got} values "
                    f"for a batch of {len(chunk)}"
                )
            # The chunk, not ``ids``, names the nodes: the predicate may change ``ids``.
            out.extend(n for (n, _), keep in zip(chunk, keeps) if keep)
        return out

    def filter_edges(
        self,
        predicate: Callable[..., Any] | None = None,
        *,
        where: dict[str, Any] | None = None,
        batch_size: int | None = None,
    ) -> list[tuple[Any, Any]]:
        pred, conds, _ = self._filter_args("filter_edges", predicate, where, batch_size, DEFAULT_BATCH)
        with self._lock:
            cands = [(s, t, dict(a)) for s, t, a in self._edge_items() if self._passes(a, conds)]
        if pred is None:
            return [(s, t) for s, t, _ in cands]
        return [(s, t) for s, t, a in cands if pred(s, t, AttributeView(a))]
