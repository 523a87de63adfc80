"""cspdet: real-time CSPNet object detectors."""
__version__ = "0.1.0"
