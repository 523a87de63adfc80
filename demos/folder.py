"""The folder demo, kept here for checkouts: it ships inside the package as ``detector.demos.folder``,
so an installed cspdet runs it with ``python -m detector.demos.folder`` (same arguments)."""
from detector.demos.folder import main

if __name__ == "__main__":
    main()
