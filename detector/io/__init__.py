"""Reading untrusted files: ``images`` (one pixel cap, one error contract, one suffix set) and
``text`` (UTF-8 text and alias-free YAML, with one-line errors naming the file).

Neutral ground: ``data/``, ``runtime/``, ``models/``, ``darknet/`` and the CLI read files through
here, and this package imports none of them. Import the submodules (``detector.io.images``
needs OpenCV; ``detector.io.text`` does not).
"""
