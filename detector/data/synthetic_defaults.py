"""The names and defaults of the generated shapes data, without the drawing code, so that
``cspdet synth --help`` reads them without importing OpenCV or torch."""

SHAPES = ("circle", "square", "triangle", "cross", "star", "ring", "hexagon")
DEFAULT_CLASSES = ("circle", "square", "triangle", "cross")
# Objects per image, at most: above any real dataset's density (COCO's busiest images hold under
# 100 boxes), and a bound on the placement loop, which tries 20 spots per object on a full-image
# mask: 100,000 objects placed 39 in five minutes and never ended.
MAX_OBJECTS = 100

# The data the shipped model (weights/cspdet-shapes.pt) was trained and scored on, as in
# weights/README.md: ``cspdet synth OUT`` defaults to it, so the obvious command gives the images
# on which its AP50 0.7965 is measured (tests/test_docs.py holds both READMEs to these values).
RECIPE = {"train": 2000, "val": 200, "img_size": (128,), "objects": (2, 5), "sizes": (22, 100), "seed": 0}
