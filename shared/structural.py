"""``isinstance`` against a runtime-checkable ``Protocol``, answered once per class.

``typing`` checks a protocol by looking up every member on the object, tens of microseconds
each time; the hot paths ask the same question of the same adapters for every message
(does this store batch its writes, read its facts in one round trip, wake fill waits?). The
members in question are methods, defined by the class, so the answer is the class's.

mypy refuses a protocol where ``type[T]`` is expected (``type-abstract``) though ``isinstance``
takes one; the call sites say so with ``# type: ignore[type-abstract]``.
"""

from __future__ import annotations

from typing import Any, TypeGuard, TypeVar

T = TypeVar("T")

_ANSWERS: dict[tuple[type[Any], type[Any]], bool] = {}


def conforms(value: object, protocol: type[T]) -> TypeGuard[T]:
    """Return ``isinstance(value, protocol)``, remembered per (class, protocol)."""
    key = (type(value), protocol)
    answer = _ANSWERS.get(key)
    if answer is None:
        answer = _ANSWERS[key] = isinstance(value, protocol)
    return answer
