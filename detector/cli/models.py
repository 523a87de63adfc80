"""``cspdet models``: the official models any ``--weights NAME`` takes, and what is cached."""
from __future__ import annotations

import sys

COLUMNS = ("name", "architecture", "input", "params", "GFLOPs", "file", "AP50", "cached")


def add_parser(sub) -> None:
    p = sub.add_parser("models", help="list the official models --weights NAME accepts (and fetch them)",
                       description="List the model zoo: architecture, input size, params (conv+FC weights), "
                                   "GFLOPs at that size, weights file size, the authors' published AP50 with "
                                   "its source, and whether the files are in the cache ($CSPDET_HOME, default "
                                   "~/.cache/cspdet). Any --weights NAME downloads on first use.")
    p.add_argument("--download", nargs="+", metavar="NAME", help="fetch these models into the cache now")
    p.add_argument("--verify", action="store_true",
                   help="re-read every cached file and check its SHA-256 against the published one (a file "
                        "that differs is moved aside to FILE.rejected; exit 1); unpinned files print their hash")
    p.set_defaults(run=run)


def rows() -> list[tuple[str, ...]]:
    """One tuple of printed cells per zoo model, in COLUMNS order."""
    from ..models import zoo
    from ..models.download import human_size

    out = []
    for i, m in enumerate(zoo.ZOO.values(), start=1):
        cached = zoo.cache_state(m.name)
        if cached != "yes" and not m.shipped and not m.weights_url and not zoo.mirror():
            cached += " (Google Drive: by hand)"
        out.append((m.name, m.arch, str(m.img_size), f"{m.params_m:.2f}M", f"{m.gflops:.2f}",
                    human_size(zoo.file_size(m.name)), f"{m.ap50_text} @{m.ap50_size} [{i}]", cached))
    return out


def print_table(out=None) -> None:
    from ..models import zoo

    out = out or sys.stdout
    table = [COLUMNS, *rows()]
    widths = [max(len(r[c]) for r in table) for c in range(len(COLUMNS))]
    right = {"input", "params", "GFLOPs", "file"}
    for r in table:
        cells = [v.rjust(w) if COLUMNS[c] in right else v.ljust(w) for c, (v, w) in enumerate(zip(r, widths))]
        print("  ".join(cells).rstrip(), file=out)
    print("\nAP50 as the authors published it, at the input size after @ (COCO AP50 in %), and each SHA-256 pin:",
          file=out)
    for i, m in enumerate(zoo.ZOO.values(), start=1):
        pin = f"pinned, from {m.sha256_from}" if m.sha256 else m.sha256_from
        print(f"  [{i}] {m.name}: {m.ap50_source}; SHA-256 {pin}", file=out)
    source = f"${zoo.MIRROR_ENV} = {zoo.mirror()}" if zoo.mirror() else "the authors' locations"
    print(f"\ncache: {zoo.home()} (${zoo.HOME_ENV}); downloads from {source}; "
          "--weights NAME fetches a model on first use", file=out)


def verify() -> int:
    """``--verify``: one line per cached file; 1 if any was refused."""
    from ..models import zoo

    bad = checked = 0
    for name in zoo.ZOO:
        for path, what, good in zoo.verify_cache(name):
            checked += 1
            bad += not good
            print(f"{name}: {path.name}: {what}")
    print(f"{checked} file(s) checked, {bad} refused (cache: {zoo.home()})")
    return 1 if bad else 0


def run(args) -> int:
    from ..models import zoo

    if args.verify:
        return verify()
    for name in args.download or []:
        zoo.get(name)  # every name checked before anything is fetched
    for name in args.download or []:
        weights, cfg = zoo.fetch(name)
        print(f"{name}: {weights}" + (f" + {cfg}" if cfg else ""))
    if not args.download:
        print_table()
    return 0
