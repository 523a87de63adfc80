"""The webcam demo, kept here for checkouts: it ships inside the package as ``detector.demos.webcam``,
so an installed cspdet runs it with ``python -m detector.demos.webcam`` (same arguments)."""
from detector.demos.webcam import main

if __name__ == "__main__":
    main()
