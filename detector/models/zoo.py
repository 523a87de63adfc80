"""Official models by name: the zoo table, the download cache and the one resolver.

``resolve_weights(weights, cfg)`` is what every ``--weights`` goes through: a zoo name that is not
an existing file becomes the cached (``.weights``, ``.cfg``) pair, fetched on first use from the
authors' locations (or ``$CSPDET_ZOO_MIRROR/<file name>``) into ``$CSPDET_HOME`` (default
``~/.cache/cspdet``). Any other value comes back unchanged.

Each weights file is pinned to the SHA-256 published beside it where one is (``sha256`` and
where it came from, ``sha256_from``); a download or a cached file with another hash is moved aside
and refused (``models/pins.py``). ``<name>.json`` beside the files records what was verified, so a
cached file is read again only after its size or mtime changed; ``cspdet models --verify``
re-reads them all. The cfg files come from the authors' master branches, which can change, so
they are not pinned: each must parse and its float count must fit the weights, and its first
hash is printed and recorded. ``<name>.lock`` lets one process at a time fetch a name.

Params (conv + FC weights, as the README counts them) and GFLOPs (at the cfg's ``[net]`` size) were
computed once with ``cspdet info --cfg`` from the official cfgs; ``tests/models/test_zoo_table.py``
holds them to those cfgs when the shared copies are present. Weight sizes are the published files'
exact byte counts (for YOLOv7 and the 640-px Scaled-YOLOv4 cfgs, whose release pages give none,
the header plus 4 bytes per float their cfg needs: the same rule reproduces every published count).
AP50 (and AP where given) is what the authors published, at ``ap50_size``, with its source.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ALEXEYAB_CFG = "https://raw.githubusercontent.com/AlexeyAB/darknet/master/cfg/{}.cfg"
CSPNET_CFG = "https://raw.githubusercontent.com/WongKinYiu/CrossStagePartialNetworks/master/cfg/{}.cfg"
CSPNET_REPO = "https://github.com/WongKinYiu/CrossStagePartialNetworks"
RELEASES = "https://github.com/AlexeyAB/darknet/releases/download"
MIRROR_ENV, HOME_ENV = "CSPDET_ZOO_MIRROR", "CSPDET_HOME"


@dataclass(frozen=True)
class ZooModel:
    """One named model. A Darknet entry has a cfg URL and either a direct ``weights_url`` or
    only a web page (``page``, linked from ``page_from``) a person must download from."""

    name: str
    arch: str
    img_size: int  # the cfg's [net] size (GFLOPs are counted there)
    params_m: float  # conv + FC weights, millions
    gflops: float
    ap50: float
    ap50_size: int
    ap50_source: str
    cfg_url: str | None = None
    weights_url: str | None = None
    weights_bytes: int | None = None
    page: str | None = None
    page_from: str | None = None
    sha256: str | None = None  # of the weights file, where a hash is published; None: not pinned yet
    sha256_from: str = "not pinned yet: no SHA-256 is published beside the file"
    ap50_percent: bool = True  # COCO AP50 is published in %; the shapes set's as a fraction
    ap: float | None = None  # COCO AP@[.5:.95] where published, at ap50_size, from the same source

    @property
    def shipped(self) -> bool:
        return self.cfg_url is None

    @property
    def ap50_text(self) -> str:
        return f"{self.ap50:.1f}" if self.ap50_percent else f"{self.ap50:.3f}"

    @property
    def files(self) -> tuple[str, str]:
        """(weights file name, cfg file name) in the cache."""
        return f"{self.name}.weights", f"{self.name}.cfg"


def _darknet(name, arch, size, params, gflops, ap50, ap50_size, source, cfg, weights, nbytes, **kw):
    return ZooModel(name, arch, size, params, gflops, ap50, ap50_size, source, cfg.format(name), weights,
                    nbytes, **kw)


ZOO: dict[str, ZooModel] = {m.name: m for m in (
    _darknet("yolov4", "CSPDarknet53-PANet-SPP (YOLOv4)", 608, 64.296, 128.389, 65.7, 608,
             "COCO test-dev; AlexeyAB/darknet README; YOLOv4 paper arXiv:2004.10934", ALEXEYAB_CFG,
             f"{RELEASES}/darknet_yolo_v3_optimal/yolov4.weights", 257_717_640,
             sha256="e8a4f6c62188738d86dc6898d82724ec0964d0eb9d2ae0f0a9d53d65d108d562",
             sha256_from="OpenVINO Open Model Zoo, models/public/yolo-v4-tf/model.yml (same URL and size)"),
    _darknet("yolov4-tiny", "CSPDarknet53-tiny (YOLOv4-tiny)", 416, 6.050, 6.908, 40.2, 416,
             "COCO; AlexeyAB/darknet README", ALEXEYAB_CFG,
             f"{RELEASES}/darknet_yolo_v4_pre/yolov4-tiny.weights", 24_251_276,
             sha256="cf9fbfd0f6d4869b35762f56100f50ed05268084078805f0e7989efe5bb8ca87",
             sha256_from="cspdet issue #24, matching OpenVINO Open Model Zoo models/public/yolo-v4-tiny-tf/model.yml"),
    _darknet("yolov4-csp", "CSPDarknet53 CSP-PANet-SPP (Scaled-YOLOv4)", 512, 52.856, 76.953, 64.8, 512,
             "COCO; AlexeyAB/darknet README (Scaled-YOLOv4)", ALEXEYAB_CFG,
             f"{RELEASES}/darknet_yolo_v4_pre/yolov4-csp.weights", 211_944_840,
             sha256_from="not pinned yet: the release page publishes no hash for it"),
    _darknet("yolov3-tiny", "Darknet tiny (YOLOv3-tiny)", 416, 8.845, 5.565, 33.1, 416,
             "COCO; pjreddie.com/darknet/yolo; CSPNet repo README", ALEXEYAB_CFG,
             "https://pjreddie.com/media/files/yolov3-tiny.weights", 35_434_956,
             sha256="dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c",
             sha256_from="cspdet issue #24 (measured on the file from this URL)"),
    _darknet("yolov3-tiny-prn", "Darknet tiny + PRN (YOLOv3-tiny-PRN)", 416, 4.930, 3.461, 33.1, 416,
             "COCO; CrossStagePartialNetworks README, CPU table", ALEXEYAB_CFG,
             "https://github.com/WongKinYiu/PartialResidualNetworks/raw/master/model/yolov3-tiny-prn.weights",
             19_759_052, sha256_from="not pinned yet: the PRN repository publishes no hash for it"),
    _darknet("csresnext50-panet-spp", "CSPResNeXt50-PANet-SPP", 416, 56.853, 47.063, 60.0, 512,
             "COCO test-dev; CSPNet paper Table 4 / CrossStagePartialNetworks README", CSPNET_CFG, None,
             228_123_400, page="https://drive.google.com/open?id=1Y6vJQf-Vu9O0tB10IUYNttktA-DLp5T1",
             page_from=CSPNET_REPO, sha256_from="not pinned yet: Google Drive publishes no hash"),
    _darknet("csdarknet53-panet-spp", "CSPDarknet53-PANet-SPP", 416, 64.296, 60.105, 61.3, 512,
             "COCO; CrossStagePartialNetworks README", CSPNET_CFG, None, 257_717_640,
             page="https://drive.google.com/open?id=1ezwtlTmQ1woHGZNtmKUdmyx-jqFElafA", page_from=CSPNET_REPO,
             sha256_from="not pinned yet: Google Drive publishes no hash"),
    # YOLOv7 family: Darknet weights announced in AlexeyAB/darknet issue #8595 (release tag "yolov4")
    _darknet("yolov7-tiny", "ELAN-tiny (YOLOv7-tiny, leaky)", 416, 6.212, 5.789, 52.8, 416,
             "COCO val2017; YOLOv7 paper arXiv:2207.02696, Table 2 (YOLOv7-tiny, 416); weights: AlexeyAB/darknet "
             "issue #8595", ALEXEYAB_CFG, f"{RELEASES}/yolov4/yolov7-tiny.weights", 24_967_560, ap=35.2),
    _darknet("yolov7", "ELAN + SPPCSPC (YOLOv7)", 640, 36.882, 104.511, 69.7, 640,
             "COCO test-dev; WongKinYiu/yolov7 README (YOLOv7, 640); weights: AlexeyAB/darknet issue #8595",
             ALEXEYAB_CFG, f"{RELEASES}/yolov4/yolov7.weights", 147_898_248, ap=51.4),
    _darknet("yolov7x", "E-ELAN + SPPCSPC (YOLOv7-X)", 640, 71.278, 189.674, 71.2, 640,
             "COCO test-dev; WongKinYiu/yolov7 README (YOLOv7-X, 640); weights: AlexeyAB/darknet issue #8595",
             ALEXEYAB_CFG, f"{RELEASES}/yolov4/yolov7x.weights", 285_638_760, ap=53.1),
    _darknet("yolov4-csp-swish", "CSPDarknet53 CSP-PANet-SPP, swish (Scaled-YOLOv4)", 640, 52.856, 120.240, 68.7,
             640, "COCO test-dev; AlexeyAB/darknet README, pre-trained models", ALEXEYAB_CFG,
             f"{RELEASES}/darknet_yolo_v4_pre/yolov4-csp-swish.weights", 211_944_840, ap=50.0),
    _darknet("yolov4x-mish", "CSPDarknet53 x1.25 CSP-PANet-SPP, mish (Scaled-YOLOv4-x)", 640, 99.654, 221.885,
             68.5, 640, "COCO test-dev; AlexeyAB/darknet README, pre-trained models", ALEXEYAB_CFG,
             f"{RELEASES}/darknet_yolo_v4_pre/yolov4x-mish.weights", 399_388_168, ap=50.1),
    ZooModel("cspdet-shapes", "EFM(SAM)-CSPPeleeNet nano", 256, 0.429, 0.224, 0.796, 128,
             "not COCO: cspdet's own generated shapes validation set (weights/README.md)",
             sha256="b550579267fc0ea87aabe3ffec21da9127fd1d15d7a5e8de9603b1262ee70e59",
             sha256_from="the file this package ships (tests/models/test_pins.py holds it to the file)",
             ap50_percent=False),
)}


def home() -> Path:
    """The download cache: ``$CSPDET_HOME``, else ``~/.cache/cspdet``."""
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".cache" / "cspdet")


def cache_dir() -> Path:
    """``home()``, created if missing; a one-line ValueError when it cannot be a folder."""
    path = home()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ValueError(f"${HOME_ENV}={path}: it (or a folder above it) is a file, not a folder; "
                         f"point ${HOME_ENV} at a folder for the model cache") from None
    except PermissionError:
        raise ValueError(f"${HOME_ENV}={path}: cannot create the model cache there (permission denied)") from None
    return path


def get(name: str) -> ZooModel:
    """The entry called ``name``, or a one-line ValueError listing the names."""
    if name not in ZOO:
        raise ValueError(f"{name!r} is not a zoo model; choose from {', '.join(ZOO)} (cspdet models)")
    return ZOO[name]


def local_paths(name: str) -> tuple[Path, Path | None]:
    """Where ``name``'s (weights, cfg) are, or will be once fetched (cfg None for a .pt)."""
    model = get(name)
    if model.shipped:
        from ..resources import default_weights_path

        return default_weights_path(), None
    weights, cfg = model.files
    return home() / weights, home() / cfg


def file_size(name: str) -> int | None:
    """The weights file's size in bytes (the shipped file's own size, if it is there)."""
    model = get(name)
    if model.shipped:
        path = local_paths(name)[0]
        return path.stat().st_size if path.is_file() else None
    return model.weights_bytes


def cache_state(name: str) -> str:
    """``yes`` (ready to load), ``partial`` (a download to resume) or ``no``."""
    if get(name).shipped:
        return "yes" if local_paths(name)[0].is_file() else "no"
    weights, cfg = local_paths(name)
    if weights.is_file() and cfg.is_file():
        return "yes"
    from .download import part_path

    return "partial" if any(part_path(p).is_file() or p.is_file() for p in (weights, cfg)) else "no"


def mirror() -> str | None:
    """``$CSPDET_ZOO_MIRROR`` without a trailing slash, or None when unset."""
    return os.environ.get(MIRROR_ENV, "").strip().rstrip("/") or None


def url_for(filename: str, official: str | None) -> str | None:
    """The mirror's ``URL/filename`` when ``$CSPDET_ZOO_MIRROR`` is set, else the official URL."""
    base = mirror()
    return f"{base}/{filename}" if base else official


def fetch(name: str, *, progress: bool = True) -> tuple[Path, Path | None]:
    """``name``'s local (weights, cfg), downloading what the cache lacks and verifying what it
    holds (``models/pins.py``); one-line errors. One process at a time per name."""
    from .download import file_lock

    model = get(name)
    weights, cfg = local_paths(name)
    if model.shipped:
        if not weights.is_file():
            raise FileNotFoundError(f"{name}: the shipped weights {weights} are missing from this install")
        return weights, None
    weights_url = url_for(weights.name, model.weights_url)
    if not weights.is_file() and weights_url is None:  # before any download: nothing to fetch here
        raise FileNotFoundError(f"{weights.name} is only on Google Drive: download it from {model.page} "
                                f"(linked from {model.page_from}) and save it as {weights}")
    with file_lock(cache_dir() / f"{name}.lock", name):
        cache = Cache(model)
        if cfg.is_file():
            cache.verify(cfg, None)
        else:
            from .download import DownloadError, also_missing

            try:
                cache.download(url_for(cfg.name, model.cfg_url), cfg, None, None, _check_cfg, progress)
            except DownloadError as e:  # offline: name the weights to fetch too, in the same line
                raise (e if weights.is_file() else also_missing(e, weights_url, weights)) from None
        if weights.is_file():
            _check_size(weights, model.weights_bytes)
            cache.verify(weights, model.sha256)
        else:
            cache.download(weights_url, weights, model.weights_bytes, model.sha256,
                           lambda part: check_float_count(part, cfg), progress)
    return weights, cfg


class Cache:
    """The record (``<name>.json``) of one zoo model's cached files, kept up to date."""

    def __init__(self, model: ZooModel):
        from .pins import load_record

        self.model, self.path = model, home() / f"{model.name}.json"
        self.files = load_record(self.path)

    def verify(self, path: Path, pinned: str | None, *, force: bool = False) -> bool:
        """Check ``path`` against ``pinned`` unless unchanged since recorded; True if it was read."""
        from .pins import verify

        try:
            entry, read = verify(path, pinned, self.files.get(path.name), force=force)
        except ValueError:
            self.files.pop(path.name, None)
            self._save()
            raise
        if read:
            self.files[path.name] = entry
            self._save()
        return read

    def download(self, url: str, dest: Path, size: int | None, pinned: str | None, check, progress: bool) -> None:
        from .download import download
        from .pins import entry_for, say_unpinned

        digest = download(url, dest, size=size, sha256=pinned, check=check, progress=progress)
        if pinned is None:
            say_unpinned(dest, digest)
        self.files[dest.name] = entry_for(dest, digest, pinned, url)
        self._save()

    def _save(self) -> None:
        from .pins import save_record

        save_record(self.path, self.model.name, self.files)


def verify_cache(name: str) -> list[tuple[Path, str, bool]]:
    """Re-read every file of ``name`` that is cached (or shipped) -> [(path, what was found,
    whether it is good)]. A file whose hash is not its pin is moved aside (the shipped one is
    only reported: it belongs to the install)."""
    from .download import sha256_file

    model, out = get(name), []
    weights, cfg = local_paths(name)
    if model.shipped:
        if weights.is_file():
            digest = sha256_file(weights)
            good = digest == model.sha256
            out.append((weights, f"ok, SHA-256 {digest} (pinned)" if good else
                        f"SHA-256 {digest} is not the pinned {model.sha256}: reinstall cspdet", good))
        return out
    cache = Cache(model)
    for path, pinned in ((cfg, None), (weights, model.sha256)):
        if not path.is_file():
            continue
        try:
            cache.verify(path, pinned, force=True)
        except ValueError as e:
            out.append((path, str(e), False))
            continue
        digest = cache.files[path.name]["sha256"]
        out.append((path, f"ok, SHA-256 {digest} " + ("(pinned)" if pinned else "(unpinned)"), True))
    return out


def resolve_weights(weights: str | Path, cfg: str | Path | None = None, *,
                    progress: bool = True) -> tuple[str | Path, str | Path | None]:
    """The one resolver behind every ``--weights``: a zoo name that is not an existing file ->
    its local (weights, cfg), fetched on first use; anything else comes back as given."""
    name = str(weights)
    if name not in ZOO or Path(weights).exists():
        return weights, cfg
    if cfg is not None:
        raise ValueError(f"--cfg {cfg}: the zoo model {name} brings its own cfg; drop --cfg")
    return fetch(name, progress=progress)


def _check_size(path: Path, size: int | None) -> None:
    got = path.stat().st_size
    if size is not None and got != size:
        raise ValueError(f"{path}: {got:,} bytes, but the published file has {size:,} "
                         "(delete it to download it again)")


def _check_cfg(path: Path) -> None:
    """A downloaded cfg must parse, with an input size and at least one [yolo] layer."""
    from ..darknet import parse_cfg

    cfg = parse_cfg(path)
    cfg.input_shape  # noqa: B018  (raises ValueError when [net] has no size)
    if not any(s.type == "yolo" for s in cfg.layers):
        raise ValueError("no [yolo] layer: not a detector cfg")


def check_float_count(weights: Path, cfg: Path) -> None:
    """Refuse a ``.weights`` file whose float count is not exactly what ``cfg`` needs."""
    from ..darknet import DarknetModel, expected_float_count, read_header

    model = DarknetModel(cfg)
    with open(weights, "rb") as f:
        header = read_header(f.read(20), weights.name)
    body = weights.stat().st_size - header.nbytes
    expected = expected_float_count(model, header)
    if body != 4 * expected:
        raise ValueError(f"{weights.name}: {body / 4:,.0f} floats after the header, {cfg.name} needs {expected:,}")
