"""Text and YAML files a user hands cspdet: one-line errors naming the file, never a traceback.

``read_text`` refuses binary files ("not a text file") instead of letting a UnicodeDecodeError
through without the file's name. ``load_yaml`` / ``parse_yaml`` are yaml.safe_load without
aliases: safe_load already refuses Python objects, but it resolves ``*alias`` references, so a
few hundred bytes of nested aliases (a "billion laughs" file) become a structure that takes
exponential time to walk. No cspdet YAML needs aliases, so any alias is refused. Nesting is
capped at MAX_DEPTH levels before the parser goes deeper (cspdet's deepest YAML has 4), rather
than left to Python's recursion limit, which a thread's smaller stack or another interpreter
can move.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

MAX_DEPTH = 64


def read_text(path: str | Path) -> str:
    """The UTF-8 contents of ``path`` (a leading BOM dropped). FileNotFoundError for a missing
    file; ValueError '{path}: not a text file ...' for binary contents."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except OSError as e:
        raise ValueError(f"{path}: cannot read ({e.strerror or e})") from None
    if b"\x00" in data:
        raise ValueError(f"{path}: not a text file (it holds NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not a text file (byte {e.start} is not UTF-8)") from None


class AliasFreeLoader(yaml.SafeLoader):
    """SafeLoader that raises on the first ``*alias`` instead of resolving it, and on a node
    nested deeper than MAX_DEPTH."""

    depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise yaml.MarkedYAMLError(problem=f"alias *{event.anchor} (YAML aliases are not allowed)",
                                       problem_mark=event.start_mark)
        if self.depth >= MAX_DEPTH:
            raise yaml.MarkedYAMLError(problem=f"nested deeper than {MAX_DEPTH} levels", problem_mark=event.start_mark)
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def parse_yaml(text: str, source: str) -> Any:
    """YAML text -> plain data (safe types, no aliases); ValueError '{source}: not valid YAML
    (line N): why' otherwise."""
    loader = AliasFreeLoader(text)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        why = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ValueError(f"{source}: not valid YAML{where}: {why}") from None
    except RecursionError:
        raise ValueError(f"{source}: not valid YAML: nested too deeply") from None
    finally:
        loader.dispose()


def load_yaml(path: str | Path) -> Any:
    """``parse_yaml(read_text(path), path)``."""
    return parse_yaml(read_text(path), str(path))
