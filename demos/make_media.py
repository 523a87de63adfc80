"""Regenerate the bundled demo media (demos/media): 4 still images and a 4-second clip of the
shapes the shipped model (weights/cspdet-shapes.pt) was trained on. Seeded: the same files
every time, so tests can regenerate their ground truth.

    python demos/make_media.py [OUT_DIR]      # default: demos/media
"""
import sys
from pathlib import Path

from detector.data.synthetic import make_demo_images, make_demo_video

STILLS = dict(n=4, img_size=(360, 640), seed=0)
CLIP = dict(n_frames=60, img_size=(360, 640), fps=15, seed=0)

if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "media")
    paths = make_demo_images(out, **STILLS) + [make_demo_video(out / "demo.mp4", **CLIP)]
    print("\n".join(str(p) for p in paths))
