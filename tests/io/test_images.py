"""detector.io.images: one reader, one contract (ImageError naming the file), one pixel cap."""
import os

import cv2
import numpy as np
import pytest

from detector.io import images
from detector.io.images import (IMAGE_SUFFIXES, ImageError, MissingImageError, image_size, images_in,
                                is_image_file, read_image)
from detector.limits import DEFAULT_MAX_PIXELS, MAX_PIXELS_ENV, max_pixels

from .helpers import jpeg_claiming, png_claiming


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".webp", ".tif", ".ppm", ".pgm"])
def test_header_size_is_the_decoded_size(tmp_path, suffix):
    img = np.random.default_rng(0).integers(0, 255, (37, 53, 3), dtype=np.uint8)
    path = tmp_path / f"x{suffix}"
    assert cv2.imwrite(str(path), img[:, :, 0] if suffix == ".pgm" else img)
    assert image_size(path.read_bytes()) == (53, 37)
    assert read_image(path).shape == (37, 53, 3)


def test_unknown_or_broken_headers_leave_it_to_the_decoder():
    assert image_size(b"GIF89a....") is None
    assert image_size(b"\x89PNG\r\n\x1a\n") is None  # truncated before IHDR
    assert image_size(b"\xff\xd8\xff\xda") is None  # scan before any frame header


@pytest.mark.parametrize("make", [png_claiming, jpeg_claiming])
def test_a_header_claiming_60000_squared_is_refused_before_decoding(tmp_path, make, monkeypatch):
    path = make(tmp_path / ("bomb.png" if make is png_claiming else "bomb.jpg"), 60000, 60000)
    assert path.stat().st_size < 2048
    monkeypatch.setattr(images.cv2, "imdecode", lambda *a: pytest.fail("decoded a header over the cap"))
    with pytest.raises(ImageError) as e:
        read_image(path)
    assert str(e.value) == (f"{path}: 60000x60000 image is over the cap of {DEFAULT_MAX_PIXELS:,} pixels "
                            f"(set ${MAX_PIXELS_ENV} to raise it)")
    assert isinstance(e.value, ValueError) and e.value.path == str(path)


def test_the_cap_is_settable_and_checked(tmp_path, monkeypatch):
    path = tmp_path / "a.png"
    cv2.imwrite(str(path), np.zeros((20, 30, 3), np.uint8))
    monkeypatch.setenv(MAX_PIXELS_ENV, "600")
    assert max_pixels() == 600 and read_image(path).shape == (20, 30, 3)
    monkeypatch.setenv(MAX_PIXELS_ENV, "599")
    with pytest.raises(ImageError, match="30x20 image is over the cap of 599 pixels"):
        read_image(path)
    monkeypatch.setenv(MAX_PIXELS_ENV, "lots")
    with pytest.raises(ValueError, match=f"\\${MAX_PIXELS_ENV}='lots': must be a positive integer"):
        read_image(path)


def test_opencv_errors_become_image_errors(tmp_path, monkeypatch):
    # Past our cap OpenCV's own (2^30 pixels) raises cv2.error instead of returning None.
    monkeypatch.setenv(MAX_PIXELS_ENV, str(10 ** 12))
    path = png_claiming(tmp_path / "bomb.png", 60000, 60000)
    with pytest.raises(ImageError, match=f"{path}: cannot decode image \\(OpenCV: .*\\)"):
        read_image(path)


def test_missing_empty_and_garbage_files_are_one_line_errors(tmp_path):
    with pytest.raises(MissingImageError, match="no such image") as e:
        read_image(tmp_path / "none.jpg")
    assert isinstance(e.value, FileNotFoundError) and isinstance(e.value, ValueError)
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageError, match="empty.png: empty file"):
        read_image(tmp_path / "empty.png")
    (tmp_path / "junk.jpg").write_bytes(os.urandom(300))
    with pytest.raises(ImageError, match="junk.jpg: cannot decode image"):
        read_image(tmp_path / "junk.jpg")


def test_listing_keeps_links_that_loop_or_dangle_for_the_reader_to_report_and_skips_folders(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((4, 4, 3), np.uint8))
    (tmp_path / "loop.jpg").symlink_to(tmp_path / "loop.jpg")
    (tmp_path / "dangling.png").symlink_to(tmp_path / "gone.png")
    (tmp_path / "folder.jpg").mkdir()
    (tmp_path / "sub").mkdir()
    cv2.imwrite(str(tmp_path / "sub" / "b.bmp"), np.zeros((4, 4, 3), np.uint8))
    (tmp_path / "sub" / "up").symlink_to(tmp_path)  # a folder link back up the tree
    assert not is_image_file(tmp_path / "loop.jpg")
    broken = [tmp_path / "dangling.png", tmp_path / "loop.jpg"]  # listed, so a run counts them as skipped
    assert images_in(tmp_path) == sorted([tmp_path / "a.png", *broken])
    assert images_in(tmp_path, recursive=True) == sorted([tmp_path / "a.png", *broken, tmp_path / "sub" / "b.bmp"])
    for path in broken:
        with pytest.raises(ValueError, match="a symbolic link that loops or points to nothing"):
            read_image(path)


def test_one_suffix_set_everywhere():
    from detector.data import labels
    from detector.runtime import sinks, sources

    assert {".jpg", ".png", ".webp", ".tif"} <= IMAGE_SUFFIXES
    for module in (labels, sources):
        assert not any(isinstance(v, (set, frozenset, tuple)) and ".jpg" in v and v is not IMAGE_SUFFIXES
                       for v in vars(module).values())
    assert sinks.ENCODABLE < IMAGE_SUFFIXES  # what OpenCV can write of what it reads


@pytest.mark.parametrize("suffix", [".png", ".pgm", ".dng"])
def test_annotated_images_are_written_whatever_the_source_suffix(tmp_path, suffix):
    from detector.runtime.sinks import write_image

    img = np.full((6, 8, 3), 90, np.uint8)
    written = write_image(tmp_path / f"out{suffix}", img)  # .pgm/.dng: OpenCV cannot encode colour ones
    assert written.name == ("out.png" if suffix == ".png" else f"out{suffix}.jpg")
    assert read_image(written).shape == (6, 8, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == [written.name]
