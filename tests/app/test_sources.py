import threading
import time

import pytest

from detector.runtime.pipeline import prefetch
from detector.io.files import new_run_dir
from detector.io.images import list_images
from detector.runtime.sources import ImageSource, VideoSource, open_source


def test_folder_reports_bad_images_instead_of_stopping(image_dir):
    src = open_source(str(image_dir))
    frames = list(src)
    assert [f.name for f in frames] == ["000.jpg", "001.jpg", "002.jpg", "broken.jpg"]
    assert [f.error is None for f in frames] == [True, True, True, False]
    assert "broken.jpg: cannot decode image" in frames[3].error


def test_glob_txt_list_and_recursive(image_dir, tmp_path):
    assert len(list_images(str(image_dir / "00*.jpg"))) == 3
    lst = tmp_path / "list.txt"
    lst.write_text("imgs/001.jpg\n# comment\n\nimgs/002.jpg\n")
    assert [p.name for p in list_images(str(lst))] == ["001.jpg", "002.jpg"]
    nested = tmp_path / "outer"
    (nested / "inner").mkdir(parents=True)
    (image_dir / "000.jpg").rename(nested / "inner" / "a.jpg")
    with pytest.raises(FileNotFoundError, match="--recursive"):
        open_source(str(nested))
    assert len(open_source(str(nested), recursive=True)) == 1


def test_video_frames_and_stride(video_file):
    src = open_source(str(video_file))
    assert isinstance(src, VideoSource) and len(list(src)) == 7
    assert len(list(open_source(str(video_file), vid_stride=3))) == 3


def test_missing_sources_are_one_line_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        open_source(str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="no such video"):
        open_source(str(tmp_path / "nope.mp4"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no images found"):
        open_source(str(tmp_path / "empty"))


def test_run_dirs_are_never_reused(tmp_path):
    dirs = [new_run_dir(tmp_path / "runs", "exp") for _ in range(3)]
    assert [d.name for d in dirs] == ["exp", "exp2", "exp3"]


def test_prefetch_overlaps_and_reraises():
    seen = []
    out = list(prefetch(range(5), lambda i: (seen.append(threading.current_thread().name), i * 2)[1]))
    assert out == [0, 2, 4, 6, 8] and all(n != threading.current_thread().name for n in seen)

    def boom(i):
        if i == 2:
            raise ValueError("bad item 2")
        return i
    with pytest.raises(ValueError, match="bad item 2"):
        list(prefetch(range(5), boom))


def test_prefetch_ends_once_cancelled_though_its_source_never_does():
    def endless():  # a live stream: a frame every 0.2 s, forever
        i = 0
        while True:
            time.sleep(0.2)
            yield i
            i += 1
    cancelled = threading.Event()
    it = prefetch(endless(), lambda i: i, cancel=cancelled.is_set)
    assert next(it) == 0
    cancelled.set()
    rest = []
    drain = threading.Thread(target=lambda: rest.extend(it), daemon=True)
    drain.start()
    drain.join(90)  # a bound against a hang, not a timing
    assert not drain.is_alive() and rest == []


def test_image_source_len(image_dir):
    assert len(ImageSource(list_images(str(image_dir)))) == 4


def test_the_writer_ends_on_close_even_if_its_end_marker_was_lost():
    from detector.runtime import pipeline

    w = pipeline.Worker()
    done = []
    w.submit(lambda: done.append(1))
    put = w.q.put
    w.q.put = lambda item, *a, **k: None if item is pipeline._END else put(item, *a, **k)  # the marker is lost
    closer = threading.Thread(target=w.close, daemon=True)
    closer.start()
    closer.join(90)  # a bound against a hang, not a timing
    assert not closer.is_alive() and not w.t.is_alive() and done == [1]
