"""cspdet's version, in a module of its own: the exporter stamps it into every model file
without importing the package's front (Detector), which imports the exporter."""
__version__ = "0.1.0"
