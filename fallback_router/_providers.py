"""Normalising and validating provider collections into `(names, objects)`."""

# pyright: reportUnnecessaryTypeIgnoreComment=false
# (the ignores in this module are for mypy; pyright needs none of them)

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias, cast

from ._errors import InvalidConfigError, NoProvidersError

__all__ = ["Providers", "ProvidersSpec", "normalize", "provider_name"]

#: What `providers=` accepts: a sequence, a mapping, or a zero-argument callable
#: returning either.
ProvidersSpec: TypeAlias = (
    Sequence[Any] | Mapping[str, Any] | Callable[[], Sequence[Any] | Mapping[str, Any]]
)

#: A normalised provider list: parallel tuples of names and objects.
Providers: TypeAlias = tuple[tuple[str, ...], tuple[Any, ...]]


def provider_name(obj: object, index: int) -> str:
    """Return the name of a sequence element, or raise `InvalidConfigError`."""
    if isinstance(obj, str):
        name: object = obj
    else:
        name = getattr(obj, "name", None)
        if name is None:
            msg = (
                f"provider #{index} ({obj!r}) has no name: use a str, a mapping "
                f"key, or an object with a non-empty str 'name' attribute"
            )
            raise InvalidConfigError(msg)
    if not isinstance(name, str) or not name:
        msg = f"provider #{index} ({obj!r}) has an invalid name {name!r}: need a non-empty str"
        raise InvalidConfigError(msg)
    return name


def normalize(spec: object) -> Providers:
    """Turn a static provider collection into `(names, objects)`, validated.

    Raises:
        NoProvidersError: the collection is empty.
        InvalidConfigError: a name is missing, empty, not a str or duplicated, or
            the collection is of an unsupported type.
    """
    objects: tuple[Any, ...]
    if isinstance(spec, Mapping):
        mapping = cast("Mapping[object, Any]", spec)
        names: list[str] = []
        for index, key in enumerate(mapping):
            if not isinstance(key, str) or not key:
                msg = f"provider key #{index} {key!r} is not a non-empty str"
                raise InvalidConfigError(msg)
            names.append(key)
        objects = tuple(mapping.values())
    elif isinstance(spec, str | bytes) or not isinstance(spec, Sequence | frozenset | set):
        msg = f"providers must be a sequence, a mapping or a zero-argument callable, got {spec!r}"
        raise InvalidConfigError(msg)
    else:
        if isinstance(spec, set | frozenset):
            msg = f"providers must be ordered (a sequence or a mapping), got a set: {spec!r}"
            raise InvalidConfigError(msg)
        objects = tuple(cast("Sequence[Any]", spec))  # type: ignore[redundant-cast]
        names = [provider_name(obj, i) for i, obj in enumerate(objects)]
    if not names:
        msg = "providers is empty: give at least one provider"
        raise NoProvidersError(msg)
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name in seen:
            msg = f"provider #{index} has a duplicate name {name!r}: names must be unique"
            raise InvalidConfigError(msg)
        seen.add(name)
    return tuple(names), objects
