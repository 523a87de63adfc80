"""argparse types that refuse bad numbers before any work starts (argparse then exits 2 with
``argument --x: ...``), so a run never starts on a negative stride or a NaN learning rate. Each
wraps a ``detector.checks.Range``, which the Python API checks its keywords with, in the same words.
"""
from __future__ import annotations

import argparse

from ..checks import IMG_SIZE, MAX_IMG_SIZE, NONNEGATIVE_INT, POSITIVE_INT, PROBABILITY, Range

__all__ = ["MAX_IMG_SIZE", "argtype", "class_id_or_name", "finite_float", "float_in", "img_size", "int_at_least",
           "nonnegative_float", "nonnegative_int", "positive_float", "positive_int", "probability"]


def argtype(check: Range):
    """The argparse type of ``check``: its message becomes argparse's ``argument --x: ...``."""
    def parse(text: str):
        try:
            return check.parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    parse.__name__ = check.kind.__name__
    return parse


def int_at_least(low: int, high: int | None = None):
    """An int type in [low, high]."""
    return argtype(Range(int, low, high))


def float_in(low: float | None = None, high: float | None = None, *, open_low: bool = False):
    """A finite float type in [low, high] (``open_low``: strictly above low)."""
    return argtype(Range(float, low, high, open_low=open_low))


positive_int = argtype(POSITIVE_INT)
nonnegative_int = argtype(NONNEGATIVE_INT)
img_size = argtype(IMG_SIZE)
probability = argtype(PROBABILITY)
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
