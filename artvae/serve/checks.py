"""Checking values that may come straight from the web API or a recipe: numbers typed into a
box, JSON sent by any client, settings read back from a PNG. Each check returns the value in
the type the engine wants, or raises a `ValueError` that names the setting and says what to send.
"""

from __future__ import annotations

import math


def number(value, name: str, low: float, high: float) -> float:
    """`value` as a float in [low, high], or a ValueError naming `name`."""
    problem = f"{name} must be a number from {low:g} to {high:g}; got {value!r}"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(problem)
    try:
        x = float(value)
    except ValueError:
        raise ValueError(problem) from None
    if not (math.isfinite(x) and low <= x <= high):
        raise ValueError(problem)
    return x


def whole_number(value, name: str, low: int, high: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return value  # exact: a float would round seeds above 2**53
    x = number(value, name, low, high)
    if x != int(x):
        raise ValueError(f"{name} must be a whole number; got {value!r}")
    return int(x)


def flag(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false; got {value!r}")
    return value


def one_of(value, name: str, options: tuple[str, ...]) -> str:
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(options)}; got {value!r}")
    return value


def number_list(value, name: str) -> list[float]:
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{name} must be a list of numbers; got {value!r}")
    return [number(v, f"{name}[{i}]", -1e6, 1e6) for i, v in enumerate(value)]
