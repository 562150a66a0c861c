"""Open registries: name -> object, extendable from outside by ``module:object`` paths."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from rlscope.errors import RlscopeError

T = TypeVar("T")


def import_object(path: str) -> object:
    """Import ``package.module:attr`` (or ``package.module.attr``)."""
    if ":" in path:
        module_name, _, attr = path.partition(":")
    else:
        module_name, _, attr = path.rpartition(".")
    try:
        obj: object = importlib.import_module(module_name)
    except ImportError as exc:
        raise RlscopeError(f"cannot import module {module_name!r} for {path!r}: {exc}") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise RlscopeError(f"{module_name!r} has no attribute {attr!r} (from {path!r})") from None
    return obj


class Registry(Generic[T]):
    """A named registry. ``get`` accepts a registered name or a ``module:object`` path."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            self._items[name] = obj
            return obj

        return deco

    def add(self, name: str, obj: T) -> None:
        self._items[name] = obj

    def get(self, name: str) -> T:
        if name in self._items:
            return self._items[name]
        if ":" in name:
            return import_object(name)  # type: ignore[return-value]
        known = ", ".join(sorted(self._items))
        raise RlscopeError(f"unknown {self.kind} {name!r}; known: {known} (or a module:object path)")

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))
