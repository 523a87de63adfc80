import os
import signal

# Until ``main`` installs its own handlers nothing has been written, so Ctrl-C or SIGTERM then
# ends the process at once, with the usual exit code, instead of a KeyboardInterrupt traceback
# from inside an import.
signal.signal(signal.SIGINT, lambda *_: os._exit(130))
signal.signal(signal.SIGTERM, lambda *_: os._exit(143))

from detector.cli import entry  # noqa: E402

entry()
