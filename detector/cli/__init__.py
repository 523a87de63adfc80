"""The ``cspdet`` command: one parser, one module per subcommand (``add_parser`` + ``run``).

Failures end as one line on stderr: exit 2 for a bad argument or input file, 1 for a failure
while running (a full disk, a runtime's own error), 130 for Ctrl-C and 143 for SIGTERM. The
traceback is shown only with ``--debug`` or ``CSPDET_DEBUG=1``.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import threading
from typing import Iterator

from .. import __version__
# subcommands import DefaultsFormatter and Parser from here
from .parsing import DefaultsFormatter, Parser, parse, subparsers  # noqa: F401

# Subcommand -> module. Modules import heavy packages inside ``run`` so ``--help`` stays fast.
COMMANDS = {
    "info": "detector.cli.info",
    "convert": "detector.cli.convert",
    "detect": "detector.cli.detect",
    "track": "detector.cli.track",
    "train": "detector.cli.train",
    "val": "detector.cli.val",
    "export": "detector.cli.export",
    "bench": "detector.cli.bench",
    "synth": "detector.cli.synth",
    "models": "detector.cli.models",
    "serve": "detector.cli.serve",
    "prune": "detector.cli.prune",
    "batch": "detector.cli.batch",
}


class CLIError(Exception):
    """A user-facing failure: printed as one line, exit status 2."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so every ``finally`` finalises its outputs as on Ctrl-C."""


class Signals:
    """SIGINT/SIGTERM handling for one ``main`` call.

    Until the heavy modules are imported nothing has been written, so a signal then ends the
    process at once: raising inside an import leaves a half-built module behind (numpy then fails
    with an AttributeError instead of stopping). Afterwards a signal raises in the main thread,
    so every ``finally`` finalises its outputs. ``received`` stays set: an interrupt that a
    library swallowed and turned into another error still ends as an interrupt.

    Inside ``polled()`` a signal is only recorded, for a loop that checks ``received`` between
    items: the loop shares queues with its reader and writer threads, and an exception raised
    asynchronously inside ``Queue.put``/``get`` can leave the queue's lock inconsistent, with the
    writer waiting forever for the end marker (a hang, not an exit). A second signal there ends
    the process at once, as a user pressing Ctrl-C twice expects.
    """

    def __init__(self, name: str = "cspdet"):
        self.name, self.importing, self.received, self.previous = name, True, None, {}
        self.polling = False

    def __enter__(self) -> "Signals":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._handle)
            _ACTIVE.append(self)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        if self.previous:
            _ACTIVE.remove(self)

    def _handle(self, signum, frame):
        again = self.received is not None
        self.received = Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
        if self.importing or (self.polling and again):
            what = "terminated" if signum == signal.SIGTERM else "interrupted"
            sys.stderr.write(f"\n{self.name}: {what}{' again, outputs not finalised' if again else ''}\n")
            sys.stderr.flush()
            os._exit(143 if signum == signal.SIGTERM else 130)
        if not self.polling:
            raise self.received

    @contextlib.contextmanager
    def polled(self) -> Iterator["Signals"]:
        """Record signals instead of raising them (see the class docstring)."""
        self.polling = True
        try:
            yield self
        finally:
            self.polling = False

    def imported(self) -> None:
        """From here on a signal raises (see the class docstring)."""
        self.importing = False


_ACTIVE: list[Signals] = []


@contextlib.contextmanager
def polled_signals() -> Iterator[Signals | None]:
    """The running command's ``Signals.polled()``; None when ``main`` is not running (the loop is
    then called from Python, and Ctrl-C raises as usual)."""
    if not _ACTIVE:
        yield None
        return
    with _ACTIVE[-1].polled() as signals:
        yield signals


def _preload() -> None:
    """Import what every subcommand's run needs, while signals are deferred."""
    import cv2  # noqa: F401
    import numpy  # noqa: F401
    import torch  # noqa: F401


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="cspdet", description="Real-time CSPNet object detectors.")
    parser.add_argument("--version", action="version", version=f"cspdet {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the Python traceback of a failure "
                                                             "(also CSPDET_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        importlib.import_module(module).add_parser(sub)
    return parser


def _one_line(e: BaseException) -> str:
    if isinstance(e, OSError) and e.filename is not None and e.strerror:  # not Python's bare "[Errno 2] ..."
        return f"{e.filename}: {e.strerror}"
    text = " ".join(str(e).split()) or type(e).__name__
    return text if isinstance(e, (CLIError, ValueError, FileNotFoundError)) else f"{type(e).__name__}: {text}"


@contextlib.contextmanager
def one_line_warnings(name, debug: bool) -> Iterator[None]:
    """Python warnings as ``cspdet CMD: warning: text`` lines, without the file and line of the
    code that raised them (kept with ``--debug``). ``name()``: the command's name, once parsed."""
    import warnings

    if debug:
        yield
        return
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())
        print(f"{name()}: warning: {text}", file=file or sys.stderr)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous


def exit_code(e: BaseException) -> int:
    """2: the arguments or an input file are wrong; 1: the run failed while working."""
    if isinstance(e, (CLIError, ValueError, FileNotFoundError, IsADirectoryError, NotADirectoryError)):
        return 2
    return 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv[:1] or os.environ.get("CSPDET_DEBUG", "") not in ("", "0")
    name = "cspdet"
    with Signals() as signals, one_line_warnings(lambda: name, debug):
        try:
            parser = build_parser()
            try:
                args = parse(parser, argv)
            except SystemExit as e:  # --help, --version and usage errors, as a status for callers of main()
                return e.code if isinstance(e.code, int) else 2
            if not args.command:
                parser.print_help()
                return 0
            name, debug = subparsers(parser)[args.command].prog, debug or args.debug  # predict: cspdet detect
            signals.name = name
            if getattr(args, "spin", False):
                from ..waiting import request_spin

                request_spin()  # before torch loads: libgomp reads the policy once
            _preload()
            signals.imported()
            return args.run(args) or 0
        except KeyboardInterrupt as e:
            if debug:
                raise
            return _interrupted(name, e)
        except Exception as e:
            if debug:
                raise
            if signals.received is not None:
                return _interrupted(name, signals.received)
            print(f"{name}: error: {_one_line(e)}", file=sys.stderr)
            return exit_code(e)


def entry() -> None:
    """The ``cspdet`` console script and ``python -m detector``: ``main``, then, after Ctrl-C or
    SIGTERM, an exit that skips the interpreter's teardown. The outputs are final by then, and
    tearing down torch and the runtimes takes 0.5 s (over 1 s on a loaded machine) that a user
    who pressed Ctrl-C waits through for nothing."""
    code = main()
    if code in (130, 143):
        import atexit

        atexit._run_exitfuncs()  # what a normal exit would still run: data loader workers' cleanup
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    raise SystemExit(code)


def _interrupted(name: str, e: KeyboardInterrupt) -> int:
    terminated = isinstance(e, Terminated)
    print(f"{name}: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
    return 143 if terminated else 130
