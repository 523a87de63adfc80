"""'Did you mean' hints for names a user misspelt (subcommands, flags, models, classes)."""
from __future__ import annotations

import difflib
from typing import Iterable


def did_you_mean(word: str, choices: Iterable[str], n: int = 1, cutoff: float = 0.6) -> str:
    """' (did you mean X?)' for the closest of ``choices`` to ``word`` (difflib ratio >= ``cutoff``), or ''."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=n, cutoff=cutoff)
    return f" (did you mean {' or '.join(close)}?)" if close else ""
