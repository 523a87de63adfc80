"""Argument checks shared by the ``cspdet`` flags and the Python API, so both refuse the same
values in the same words: ``Detector(w, conf_thres=2)`` raises ``ValueError('conf_thres: must be
>= 0.0 and <= 1.0, got 2.0')`` where ``--conf-thres 2`` prints ``argument --conf-thres: must be
>= 0.0 and <= 1.0, got 2.0``. ``cli/argtypes.py`` wraps each ``Range`` for argparse; ``Detector``
and ``ByteTracker`` call them with their keyword's name. A wrong type is a TypeError, a wrong
value a ValueError, each one line naming the argument. Nothing here imports more than the
standard library.
"""
from __future__ import annotations

import math
import numbers
import os
from typing import Any, Sequence

from .hints import did_you_mean

MAX_IMG_SIZE = 8192  # larger inputs only allocate gigabytes; no CSP model was trained near it


class Range:
    """An int or float argument and its bounds [low, high] (``open_low``: strictly above low)."""

    def __init__(self, kind: type, low: float | None = None, high: float | None = None, *, open_low: bool = False):
        self.kind, self.low, self.high, self.open_low = kind, low, high, open_low

    def problem(self, value) -> str | None:
        """Why ``value`` (already of the right kind) is refused, or None."""
        if self.kind is float and not math.isfinite(value):
            return f"{value!r} is not a finite number"
        below = self.low is not None and (value <= self.low if self.open_low else value < self.low)
        if not below and (self.high is None or value <= self.high):
            return None
        if self.kind is int:
            bound = f"at least {self.low}" if self.high is None else f"between {self.low} and {self.high}"
            return f"must be {bound}, got {value}"
        lo = "" if self.low is None else (f"> {self.low}" if self.open_low else f">= {self.low}")
        hi = "" if self.high is None else f"<= {self.high}"
        return f"must be {' and '.join(s for s in (lo, hi) if s)}, got {value}"

    def parse(self, text: str):
        """A command-line string -> the value; ValueError(why) otherwise."""
        try:
            value = self.kind(text)
        except ValueError:
            raise ValueError(f"{text!r} is not {'an integer' if self.kind is int else 'a number'}") from None
        why = self.problem(value)
        if why:
            raise ValueError(why)
        return value

    def __call__(self, value: Any, name: str):
        """A Python value for the keyword ``name`` -> the value as int or float; TypeError for
        another type (a str, a bool, a float where an int is meant), ValueError out of range."""
        abstract = numbers.Integral if self.kind is int else numbers.Real
        if isinstance(value, bool) or not isinstance(value, abstract):
            what = "an integer" if self.kind is int else "a number"
            raise TypeError(f"{name}: must be {what}, got {value!r} ({type(value).__name__})")
        value = self.kind(value)
        why = self.problem(value)
        if why:
            raise ValueError(f"{name}: {why}")
        return value


PROBABILITY = Range(float, 0.0, 1.0)
POSITIVE_INT = Range(int, 1)
NONNEGATIVE_INT = Range(int, 0)
IMG_SIZE = Range(int, 32, MAX_IMG_SIZE)


def optional(check: Range, value: Any, name: str):
    """``check(value, name)``, or None when ``value`` is None."""
    return None if value is None else check(value, name)


def flag(value: Any, name: str) -> bool:
    """A bool argument: True/False (numpy's too) or 0/1; a string such as "no" would be true."""
    if type(value).__name__ not in ("bool", "bool_") and not (isinstance(value, numbers.Integral) and value in (0, 1)):
        raise TypeError(f"{name}: must be True or False, got {value!r} ({type(value).__name__})")
    return bool(value)


def model_path(value: Any, name: str = "weights"):
    """A model file or name: a str or os.PathLike; TypeError (naming what was given) otherwise."""
    if isinstance(value, (str, os.PathLike)) and str(value):
        return value
    raise TypeError(f"{name}: expected a model file path or name (str or Path), got {value!r:.60} "
                    f"({type(value).__name__})")


def class_ids(classes: Any, names: Sequence[str], name: str = "classes") -> list[int] | None:
    """``classes`` (None, one class or a sequence of them; each an index into ``names`` or one of
    ``names``) -> sorted unique indices. An index out of range or an unknown name is a ValueError
    listing the model's classes, so a typo fails before a long video instead of finding nothing."""
    if classes is None:
        return None
    items = [classes] if isinstance(classes, (str, numbers.Integral)) else classes
    if not isinstance(items, (list, tuple, set, frozenset, range)) and type(items).__name__ != "ndarray":
        raise TypeError(f"{name}: expected class indices or names (a list), got {classes!r:.60} "
                        f"({type(classes).__name__})")
    items = list(items)
    if not items:
        raise ValueError(f"{name}: empty, so nothing would be kept; pass None for every class")
    index = {n: i for i, n in enumerate(names)}
    out = set()
    for item in items:
        if isinstance(item, str):
            folded = {n.lower(): i for i, n in enumerate(names)}  # "Cross" is the class cross
            if item not in index and item.lower() in folded and not item.isdigit():
                item = names[folded[item.lower()]]
            if item not in index:
                if not item.isdigit():
                    raise ValueError(f"{name}: {item!r} is not a class of this model{did_you_mean(item, names)} "
                                     f"({_listed(names)})")
                item = int(item)
            else:
                out.add(index[item])
                continue
        if isinstance(item, bool) or not isinstance(item, numbers.Integral):
            raise TypeError(f"{name}: each class must be an index or a name, got {item!r} ({type(item).__name__})")
        if not 0 <= item < len(names):
            raise ValueError(f"{name}: class {int(item)} is out of range: this model has {len(names)} "
                             f"classes ({_listed(names)})")
        out.add(int(item))
    return sorted(out)


def _listed(names: Sequence[str], most: int = 8) -> str:
    shown = ", ".join(f"{i} {n}" for i, n in enumerate(names[:most]))
    return shown + (f", ... {len(names) - 1} {names[-1]}" if len(names) > most else "")
