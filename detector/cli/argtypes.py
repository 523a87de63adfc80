"""argparse types that refuse bad numbers before any work starts (argparse then exits 2 with
``argument --x: ...``), so a run never starts on a negative stride or a NaN learning rate."""
from __future__ import annotations

import argparse
import math

MAX_IMG_SIZE = 8192  # larger inputs only allocate gigabytes; no CSP model was trained near it


def _number(kind, text: str):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def int_at_least(low: int, high: int | None = None):
    """An int type in [low, high]."""
    def parse(text: str) -> int:
        value = _number(int, text)
        if value < low or (high is not None and value > high):
            bound = f"at least {low}" if high is None else f"between {low} and {high}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value

    parse.__name__ = "int"
    return parse


def float_in(low: float | None = None, high: float | None = None, *, open_low: bool = False):
    """A finite float type in [low, high] (``open_low``: strictly above low)."""
    def parse(text: str) -> float:
        value = _number(float, text)
        below = low is not None and (value <= low if open_low else value < low)
        if below or (high is not None and value > high):
            lo = "" if low is None else (f"> {low}" if open_low else f">= {low}")
            hi = "" if high is None else f"<= {high}"
            raise argparse.ArgumentTypeError(f"must be {' and '.join(s for s in (lo, hi) if s)}, got {value}")
        return value

    parse.__name__ = "float"
    return parse


positive_int = int_at_least(1)
nonnegative_int = int_at_least(0)
img_size = int_at_least(32, MAX_IMG_SIZE)
probability = float_in(0.0, 1.0)
positive_float = float_in(0.0, open_low=True)
finite_float = float_in()
nonnegative_float = float_in(0.0)


def class_id_or_name(text: str) -> int | str:
    """``--classes``: a class id (an int >= 0) or a class name, which the model's names resolve."""
    text = text.strip()
    if text.lstrip("-").isdigit():
        return nonnegative_int(text)
    if not text:
        raise argparse.ArgumentTypeError("an empty class name")
    return text
