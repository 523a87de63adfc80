"""argparse as yolov5 and ultralytics users type at it: one-line usage errors that name the
subcommand and point to its help, "did you mean" for misspelled subcommands, flags and choices,
and ultralytics' ``key=value`` arguments (``source=photo.jpg conf=0.3``) read as the matching flags.

Everything here is standard library only: ``cspdet --help`` must not import torch or OpenCV.
"""
from __future__ import annotations

import argparse
import difflib
import re

from ..hints import did_you_mean

# ultralytics' argument names -> this CLI's option dest (used where the subcommand has that dest)
KEY_ALIASES = {
    "model": ("weights",), "conf": ("conf_thres",), "iou": ("iou_thres",), "imgsz": ("img_size",),
    "img": ("img_size",), "batch": ("batch_size", "batch"), "view_img": ("show",), "agnostic": ("agnostic_nms",),
    "include": ("format",),
}
NEGATED = {"save": "nosave", "plots": "noplots", "ema": "no_ema", "amp": "no_amp"}  # key=False -> --no-x
TRUE, FALSE = {"true", "1", "yes", "on", ""}, {"false", "0", "no", "off", "none"}
KEY_VALUE = re.compile(r"^([A-Za-z_][A-Za-z0-9_-]*)=(.*)$", re.S)
INVALID_CHOICE = re.compile(r"invalid choice: '(.*?)' \(choose from (.*)\)$", re.S)


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error in one line (the usage text is one ``--help`` away) that
    names the subcommand it belongs to and suggests the closest valid choice."""

    def error(self, message: str):
        m = INVALID_CHOICE.search(message)
        if m:
            choices = [c.strip().strip("'") for c in m.group(2).split(",")]
            message += did_you_mean(m.group(1), choices).replace(" (", "; ", 1).rstrip(")")
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class DefaultsFormatter(argparse.HelpFormatter):
    """Help that ends each option with ``(default: X)``, unless its text already speaks of the
    default or there is none worth saying (None, a flag's False)."""

    def _get_help_string(self, action) -> str:
        text = action.help or ""
        quiet = action.default is None or action.default is False or action.default is argparse.SUPPRESS
        if quiet or "default" in text or not action.option_strings:
            return text
        return text + " (default: %(default)s)"


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """{subcommand name or alias: its parser}."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """{dest: action} of the optional arguments, plus {'--flag': action} for every spelling."""
    table = {}
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            table.setdefault(action.dest, action)
            for s in action.option_strings:
                table[s] = action
    return table


def _takes_value(action: argparse.Action | None) -> bool:
    return action is not None and action.nargs != 0 and not isinstance(
        action, (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse._VersionAction))


def _action_for(key: str, table: dict) -> argparse.Action | None:
    """The option ``key`` means in ``table`` (see ``_options``): its dest, an ultralytics alias
    of one, or a flag spelt like it; None when the subcommand has none."""
    dest = key.replace("-", "_")
    for candidate in (dest, *KEY_ALIASES.get(dest, ())):
        if candidate in table:
            return table[candidate]
    return table.get("--" + key.replace("_", "-"))


def _as_flags(sub: argparse.ArgumentParser, token: str, key: str, value: str) -> list[str]:
    """``key=value`` -> the arguments argparse reads, or a usage error naming the closest flag."""
    table = _options(sub)
    dest = key.replace("-", "_")
    if dest in NEGATED and NEGATED[dest] in table:  # save=False -> --nosave
        flag = table[NEGATED[dest]].option_strings[0]
        return [flag] if value.lower() in FALSE else []
    action = _action_for(key, table)
    if action is None:
        names = sorted({a.dest for a in table.values()} | {k for k, v in KEY_ALIASES.items()
                                                             if _action_for(k, table) is not None})
        close = difflib.get_close_matches(dest, names, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}= ({_action_for(close[0], table).option_strings[0]})?" if close else ""
        sub.error(f"unknown argument {token!r}{hint}")
    flag = action.option_strings[0]
    if not _takes_value(action):
        low = value.lower()
        if low not in TRUE | FALSE:
            sub.error(f"{token}: {key} is a switch, give {key}=True or {key}=False (or {flag})")
        return [flag] if (low in TRUE) == isinstance(action, argparse._StoreTrueAction) else []
    if action.nargs in ("+", "*") or isinstance(action.nargs, int) and action.nargs > 1:
        return [flag, *[v for v in re.split(r"[,\s]+", value.strip("[]()")) if v]]
    return [flag, value]


def expand_key_values(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """ultralytics' ``key=value`` arguments after the subcommand -> its flags (``conf=0.3`` ->
    ``--conf-thres 0.3``, ``save_txt=True`` -> ``--save-txt``). A token right after a flag
    that takes a value is that flag's value, never rewritten (``--source a=b.jpg``)."""
    subs = subparsers(parser)
    at = next((i for i, a in enumerate(argv) if a in subs), None)
    if at is None:
        return argv
    sub, out = subs[argv[at]], list(argv[:at + 1])
    table = _options(sub)
    previous = None
    for token in argv[at + 1:]:
        m = KEY_VALUE.match(token)
        single_value = previous is not None and _takes_value(previous) and previous.nargs in (None, "?")
        if m and not single_value:
            out += _as_flags(sub, token, m.group(1), m.group(2))
            previous = None
            continue
        out.append(token)
        if token.startswith("-"):  # --flag=value carries its value
            previous = None if "=" in token else table.get(token)
        elif single_value:
            previous = None
    return out


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """``parser.parse_args`` where arguments the subcommand does not know are reported by that
    subcommand (``cspdet detect: error: unrecognized arguments: --img-szie (did you mean
    --img-size?)``), not by the top-level parser."""
    args, extras = parser.parse_known_args(expand_key_values(parser, argv))
    if not extras:
        return args
    sub = subparsers(parser).get(getattr(args, "command", None) or "", parser)
    flags = [s for a in sub._actions for s in a.option_strings]
    # stricter than for names: two flags share their leading dashes and often a word
    hints = "".join(did_you_mean(e.split("=", 1)[0], flags, cutoff=0.7) for e in extras if e.startswith("-"))
    sub.error(f"unrecognized arguments: {' '.join(extras)}{hints}")
