"""``conforms``: isinstance against a runtime-checkable protocol, answered once per class."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from shared.structural import conforms


@runtime_checkable
class Closes(Protocol):
    def close(self) -> None: ...


class Door:
    def close(self) -> None:
        return None


class Window:
    def open(self) -> None:
        return None


class SlidingDoor(Door):
    pass


def test_conforms_answers_as_isinstance_for_each_class() -> None:
    for value in (Door(), Window(), SlidingDoor(), 3, "text", None):
        assert conforms(value, Closes) == isinstance(value, Closes)  # type: ignore[type-abstract]


def test_conforms_asks_typing_once_per_class_not_per_instance() -> None:
    class Hatch:
        pass

    assert not conforms(Hatch(), Closes)  # type: ignore[type-abstract]
    Hatch.close = lambda self: None  # type: ignore[attr-defined]  # the class changes later
    assert isinstance(Hatch(), Closes)
    assert not conforms(Hatch(), Closes)  # type: ignore[type-abstract]  # the answer was kept
