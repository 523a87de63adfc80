"""Official models by name: the zoo table, the download cache and the one resolver.

``resolve_weights(weights, cfg)`` is what every ``--weights`` goes through: a zoo name that is not
an existing file becomes the cached (``.weights``, ``.cfg``) pair, fetched on first use from the
authors' locations (or ``$CSPDET_ZOO_MIRROR/<file name>``) into ``$CSPDET_HOME`` (default
``~/.cache/cspdet``), with the SHA-256 of each download kept in ``<name>.json`` beside the files.
A file put there by hand is used as it is. Any other value comes back unchanged.

Params (conv + FC weights, as the README counts them) and GFLOPs (at the cfg's ``[net]`` size) were
computed once with ``cspdet info --cfg`` from the official cfgs; ``tests/models/test_zoo_table.py``
holds them to those cfgs when the shared copies are present. Weight sizes are the published files'
exact byte counts. AP50 is what the authors published, at ``ap50_size``, with its source.
"""
from __future__ import annotations

import json
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
    ap50_percent: bool = True  # COCO AP50 is published in %; the shapes set's as a fraction

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
             f"{RELEASES}/darknet_yolo_v3_optimal/yolov4.weights", 257_717_640),
    _darknet("yolov4-tiny", "CSPDarknet53-tiny (YOLOv4-tiny)", 416, 6.050, 6.908, 40.2, 416,
             "COCO; AlexeyAB/darknet README", ALEXEYAB_CFG,
             f"{RELEASES}/darknet_yolo_v4_pre/yolov4-tiny.weights", 24_251_276),
    _darknet("yolov4-csp", "CSPDarknet53 CSP-PANet-SPP (Scaled-YOLOv4)", 512, 52.856, 76.953, 64.8, 512,
             "COCO; AlexeyAB/darknet README (Scaled-YOLOv4)", ALEXEYAB_CFG,
             f"{RELEASES}/darknet_yolo_v4_pre/yolov4-csp.weights", 211_944_840),
    _darknet("yolov3-tiny", "Darknet tiny (YOLOv3-tiny)", 416, 8.845, 5.565, 33.1, 416,
             "COCO; pjreddie.com/darknet/yolo; CSPNet repo README", ALEXEYAB_CFG,
             "https://pjreddie.com/media/files/yolov3-tiny.weights", 35_434_956),
    _darknet("yolov3-tiny-prn", "Darknet tiny + PRN (YOLOv3-tiny-PRN)", 416, 4.930, 3.461, 33.1, 416,
             "COCO; CrossStagePartialNetworks README, CPU table", ALEXEYAB_CFG,
             "https://github.com/WongKinYiu/PartialResidualNetworks/raw/master/model/yolov3-tiny-prn.weights",
             19_759_052),
    _darknet("csresnext50-panet-spp", "CSPResNeXt50-PANet-SPP", 416, 56.853, 47.063, 60.0, 512,
             "COCO test-dev; CSPNet paper Table 4 / CrossStagePartialNetworks README", CSPNET_CFG, None,
             228_123_400, page="https://drive.google.com/open?id=1Y6vJQf-Vu9O0tB10IUYNttktA-DLp5T1",
             page_from=CSPNET_REPO),
    _darknet("csdarknet53-panet-spp", "CSPDarknet53-PANet-SPP", 416, 64.296, 60.105, 61.3, 512,
             "COCO; CrossStagePartialNetworks README", CSPNET_CFG, None, 257_717_640,
             page="https://drive.google.com/open?id=1ezwtlTmQ1woHGZNtmKUdmyx-jqFElafA", page_from=CSPNET_REPO),
    ZooModel("cspdet-shapes", "EFM(SAM)-CSPPeleeNet nano", 256, 0.429, 0.224, 0.796, 128,
             "not COCO: cspdet's own generated shapes validation set (weights/README.md)",
             ap50_percent=False),
)}


def home() -> Path:
    """The download cache: ``$CSPDET_HOME``, else ``~/.cache/cspdet``."""
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".cache" / "cspdet")


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
    """``name``'s local (weights, cfg), downloading what the cache lacks; one-line errors."""
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
    if not cfg.is_file():
        from .download import DownloadError, also_missing

        try:
            _download(model, url_for(cfg.name, model.cfg_url), cfg, None, _check_cfg, progress)
        except DownloadError as e:
            raise (e if weights.is_file() else also_missing(e, weights_url, weights)) from None
    if weights.is_file():
        _check_size(weights, model.weights_bytes)
    else:
        _download(model, weights_url, weights, model.weights_bytes,
                  lambda part: check_float_count(part, cfg), progress)
    return weights, cfg


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


def _download(model: ZooModel, url: str, dest: Path, size: int | None, check, progress: bool) -> None:
    from .download import download

    digest = download(url, dest, size=size, check=check, progress=progress)
    record = dest.with_name(f"{model.name}.json")
    files = json.loads(record.read_text()).get("files", {}) if record.is_file() else {}
    files[dest.name] = {"url": url, "bytes": dest.stat().st_size, "sha256": digest}
    record.write_text(json.dumps({"name": model.name, "files": files}, indent=2) + "\n")


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
