"""The gap-patch record: ``Gap`` (name, what moto 5.2.5 does, what the patch does) and the ``gap`` decorator that
attaches one to a patch function.  Each service module lists its patches in ``PATCHES``; ``tools.emulator.patches``
builds ``GAPS`` (the documented list) and applies them, so every description lives beside its code only.

A leaf module (imports nothing of the package), so the service modules and the package import it without a circle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

#: A patch: called once per process, it changes moto's classes in place.
Patch = Callable[[], None]


class Gap(NamedTuple):
    """One documented moto gap: its name, what moto does, what the emulator does about it."""

    name: str
    problem: str
    fix: str


def gap(name: str, problem: str, fix: str) -> Callable[[Patch], Patch]:
    """Mark ``fn`` as the patch closing gap ``name`` (``fn.gap``); its docstring says when it can go."""

    def deco(fn: Patch) -> Patch:
        fn.gap = Gap(name, problem, fix)  # type: ignore[attr-defined]
        return fn

    return deco
