"""The names and defaults of the generated shapes data, without the drawing code, so that
``cspdet synth --help`` reads them without importing OpenCV or torch."""

SHAPES = ("circle", "square", "triangle", "cross", "star", "ring", "hexagon")
DEFAULT_CLASSES = ("circle", "square", "triangle", "cross")

# The data the shipped model (weights/cspdet-shapes.pt) was trained and scored on, as in
# weights/README.md: ``cspdet synth OUT`` defaults to it, so the obvious command gives the images
# on which its AP50 0.7965 is measured (tests/test_docs.py holds both READMEs to these values).
RECIPE = {"train": 2000, "val": 200, "img_size": (128,), "objects": (2, 5), "sizes": (22, 100), "seed": 0}
