"""Small programs over the public API that ship with the package, so they run from an installed
wheel: ``python -m detector.demos.webcam`` (live detection or tracking with an fps overlay) and
``python -m detector.demos.folder IN OUT`` (annotate a folder, write a CSV of boxes)."""
