"""Parser for Darknet ``.cfg`` files.

Lines are read the way Darknet's ``read_cfg`` reads them: all whitespace is removed (so
``filters = 32`` and ``filters=32`` are the same), ``#`` and ``;`` start a comment, and a ``[type]``
line opens a section. Each section keeps the cfg line of its header and of every key, so later
errors (here, in the model builder or in the weights reader) can point at ``file:line``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .keys import ALIASES, LAYER_KEYS, NET_KEYS, UNSUPPORTED_TYPES


@dataclass
class Section:
    """One ``[type]`` block: its canonical type, raw string options and their cfg lines."""

    type: str
    line: int
    source: str
    options: dict[str, str] = field(default_factory=dict)
    key_lines: dict[str, int] = field(default_factory=dict)

    def where(self, key: str | None = None) -> str:
        """``file:line`` of ``key`` if given and present, else of the section header."""
        return f"{self.source}:{self.key_lines.get(key, self.line) if key else self.line}"

    def error(self, message: str, key: str | None = None) -> ValueError:
        """A ValueError whose one-line message starts with ``file:line:``."""
        return ValueError(f"{self.where(key)}: {message} in [{self.type}]")

    def has(self, key: str) -> bool:
        return key in self.options

    def get_str(self, key: str, default: str | None = None) -> str:
        if key in self.options:
            return self.options[key]
        if default is None:
            raise self.error(f"missing required key {key!r}")
        return default

    def get_int(self, key: str, default: int | None = None) -> int:
        if key not in self.options:
            if default is None:
                raise self.error(f"missing required key {key!r}")
            return default
        try:
            return int(self.options[key])
        except ValueError:
            raise self.error(f"key {key!r} expects an integer, got {self.options[key]!r}",
                             key) from None

    def get_float(self, key: str, default: float | None = None) -> float:
        if key not in self.options:
            if default is None:
                raise self.error(f"missing required key {key!r}")
            return default
        try:
            return float(self.options[key])
        except ValueError:
            raise self.error(f"key {key!r} expects a number, got {self.options[key]!r}",
                             key) from None

    def get_ints(self, key: str, default: list[int] | None = None) -> list[int]:
        """A comma-separated integer list; an empty trailing item (``1,2,``) is ignored."""
        return self._items(key, default, int, "integers")

    def get_floats(self, key: str, default: list[float] | None = None) -> list[float]:
        return self._items(key, default, float, "numbers")

    def _items(self, key: str, default: list | None, kind: type, kind_name: str) -> list:
        if key not in self.options:
            if default is None:
                raise self.error(f"missing required key {key!r}")
            return list(default)
        try:
            items = [kind(v) for v in self.options[key].split(",") if v != ""]
        except ValueError:
            raise self.error(f"key {key!r} expects comma-separated {kind_name}, got "
                             f"{self.options[key]!r}", key) from None
        if not items:
            raise self.error(f"key {key!r} is empty", key)
        return items


@dataclass
class DarknetConfig:
    """A parsed cfg: the ``[net]`` section, then the layer sections (layer index = position)."""

    source: str
    net: Section
    layers: list[Section]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) from ``[net]``."""
        shape = tuple(self.net.get_int(k, 0) for k in ("channels", "height", "width"))
        if min(shape) <= 0:
            raise self.net.error("channels, height and width must all be set and positive")
        return shape


def _strip_line(raw: str) -> str:
    # Darknet deletes every whitespace character in the line, not just the ends.
    text = "".join(raw.split())
    cut = min((i for i in (text.find("#"), text.find(";")) if i >= 0), default=len(text))
    return text[:cut]


def _open_section(header: str, lineno: int, source: str) -> Section:
    if not header.endswith("]") or len(header) < 3:
        raise ValueError(f"{source}:{lineno}: malformed section header {header!r}")
    name = header[1:-1]
    kind = ALIASES.get(name, name)
    if kind in UNSUPPORTED_TYPES:
        raise ValueError(f"{source}:{lineno}: layer type [{name}] is not supported by this "
                         f"importer")
    if kind != "net" and kind not in LAYER_KEYS:
        raise ValueError(f"{source}:{lineno}: unknown layer type [{name}]")
    return Section(kind, lineno, source)


def _add_option(section: Section, text: str, lineno: int) -> None:
    key, sep, value = text.partition("=")
    where = f"{section.source}:{lineno}"
    if not sep or not key:
        raise ValueError(f"{where}: expected key=value, got {text!r} in [{section.type}]")
    allowed = NET_KEYS if section.type == "net" else LAYER_KEYS[section.type]
    if key not in allowed:
        raise ValueError(f"{where}: unknown key {key!r} in [{section.type}]")
    if key in section.options and section.options[key] != value:
        # Darknet keeps the first value, OpenCV's importer the last: refuse the ambiguity.
        raise ValueError(f"{where}: key {key!r} repeats with a different value (first at line "
                         f"{section.key_lines[key]}) in [{section.type}]")
    section.options.setdefault(key, value)
    section.key_lines.setdefault(key, lineno)


def parse_cfg_text(text: str, source: str = "<cfg>") -> DarknetConfig:
    """Parse cfg text; ``source`` names the file in error messages."""
    sections: list[Section] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = _strip_line(raw)
        if not line:
            continue
        if line.startswith("["):
            sections.append(_open_section(line, lineno, source))
        elif not sections:
            raise ValueError(f"{source}:{lineno}: option {line!r} before any [section]")
        else:
            _add_option(sections[-1], line, lineno)
    if not sections or sections[0].type != "net":
        raise ValueError(f"{source}:1: first section must be [net] or [network]")
    for extra in sections[1:]:
        if extra.type == "net":
            raise ValueError(f"{source}:{extra.line}: a second [net] section")
    return DarknetConfig(source, sections[0], sections[1:])


def parse_cfg(path: str | os.PathLike) -> DarknetConfig:
    """Parse a ``.cfg`` file; every error message starts with ``<file name>:<line>:``."""
    path = Path(path)
    return parse_cfg_text(path.read_text(encoding="utf-8", errors="replace"), path.name)
