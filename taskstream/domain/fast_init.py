"""Constructors for frozen slotted dataclasses that skip `object.__setattr__`.

A frozen dataclass's `__init__` sets each field through `object.__setattr__`, about
0.25 µs a field: building a `TaskState` (30 fields) took 7.3 µs on one host where
copying one through its twin (`state.with_changes`) took 1.9, and an `Attempt` took
2.5 µs. `evolve` builds a state per submitted task and an attempt per attempt started
or ended, for every event a projector or a rebuild folds.

`fast_constructor(cls)` compiles a function with `cls.__init__`'s parameters and
defaults that sets the fields on an unfrozen twin class of the same slots, then turns
the object into a `cls` by `__class__` assignment, which Python allows between classes
of the same layout. Where it does not (another interpreter), `cls` itself is returned.
Nothing is validated here that the dataclass would validate: a dataclass without
`__post_init__` validates nothing either.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, fields
from typing import Any, TypeVar

T = TypeVar("T")


def _source(cls: type[Any], scope: dict[str, Any]) -> str:
    params, body = [], []
    for f in fields(cls):
        if f.default is not MISSING:
            scope[f"default_{f.name}"] = f.default
            params.append(f"{f.name}=default_{f.name}")
            body.append(f"    new.{f.name} = {f.name}")
        elif f.default_factory is not MISSING:
            scope[f"factory_{f.name}"] = f.default_factory
            params.append(f"{f.name}=MISSING")
            body.append(
                f"    new.{f.name} = factory_{f.name}() if {f.name} is MISSING else {f.name}"
            )
        else:
            params.append(f.name)
            body.append(f"    new.{f.name} = {f.name}")
    head = [f"def new({', '.join(params)}):", "    new = Draft()"]
    return "\n".join([*head, *body, "    new.__class__ = cls", "    return new"])


def slot_twin(cls: type[Any]) -> type[Any] | None:
    """An unfrozen class with the slots of the slotted dataclass `cls`, in the same order:
    its objects take plain attribute assignment, then become `cls` objects by `__class__`
    assignment. None where the interpreter refuses that assignment."""
    names = tuple(f.name for f in fields(cls))
    twin = type(f"_{cls.__name__}Draft", (), {"__slots__": names})
    try:
        probe = twin()
        probe.__class__ = cls
    except TypeError:  # not the same layout here
        return None
    return twin


def fast_constructor(cls: type[T]) -> Callable[..., T]:
    """A function building a `cls` as `cls(...)` does (same parameters and defaults)."""
    if getattr(cls, "__post_init__", None) is not None or "__slots__" not in vars(cls):
        return cls
    draft = slot_twin(cls)
    if draft is None:  # the dataclass's own `__init__`
        return cls
    scope: dict[str, Any] = {"Draft": draft, "cls": cls, "MISSING": MISSING}
    exec(_source(cls, scope), scope)  # the source is built above from the field names
    build: Callable[..., T] = scope["new"]
    return build
