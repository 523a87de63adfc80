"""Print our parameter / FLOP / CIO counts beside the CSPNet paper's, as a Markdown table.

    python benchmarks/model_counts.py [--plot counts.png]
"""
from __future__ import annotations

import argparse

from tqdm import tqdm

from detector.models import build_classifier, build_model, profile_model

# (label, kind, name, input, published params M or None, published BFLOPs, published CIO M or None)
ROWS = [
    ("PeleeNet", "cls", "peleenet", 224, 2.79, 1.017, None),
    ("CSPPeleeNet", "cls", "csppeleenet", 224, 2.83, 0.888, None),
    ("Darknet53", "cls", "darknet53", 256, 41.57, 18.57, None),
    ("CSPDarknet53", "cls", "cspdarknet53", 256, 27.61, 13.07, None),
    ("ResNeXt50", "cls", "resnext50", 256, 22.19, 10.11, 34.4),
    ("CSPResNeXt50", "cls", "cspresnext50", 256, 20.50, 7.93, 32.6),
    ("CSPPeleeNet-PRN", "det", "csppeleenet-prn", 416, None, 3.590, None),
    ("CSPPeleeNet-EFM", "det", "csppeleenet-efm", 416, None, 4.868, None),
    ("CSPPeleeNet-EFM(SAM)", "det", "csppeleenet-efm-sam", 416, 4.31, 5.068, None),
    ("CSPPeleeNet-EFM(SAM)", "det", "csppeleenet-efm-sam", 512, 4.31, 7.68, None),
    ("PANet(SPP)-CSPResNeXt50", "det", "cspresnext50-panet-spp", 416, 56.9, 47.1, None),
]


def fmt(ours: float, paper: float | None, digits: int) -> str:
    if paper is None:
        return f"{ours:.{digits}f} | –"
    return f"{ours:.{digits}f} | {paper:.{digits}f} ({100 * (ours / paper - 1):+.1f}%)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--plot", help="save a bar chart of our vs published BFLOPs")
    args = ap.parse_args()
    print("| model | input | params (M) | paper | BFLOPs | paper | CIO (M) | paper |")
    print("|---|---|---|---|---|---|---|---|")
    results = []
    for label, kind, name, size, params, bflops, cio in tqdm(ROWS, desc="counting", leave=False):
        model = build_classifier(name) if kind == "cls" else build_model(name)
        prof = profile_model(model, size)
        results.append((f"{label}@{size}", prof.gflops, bflops))
        print(f"| {label} | {size} | {fmt(prof.params / 1e6, params, 2)} | {fmt(prof.gflops, bflops, 3)} "
              f"| {fmt(prof.cio / 1e6, cio, 1)} |")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(10, 4))
        x = range(len(results))
        ax.bar([i - 0.2 for i in x], [r[1] for r in results], 0.4, label="cspdet")
        ax.bar([i + 0.2 for i in x], [r[2] for r in results], 0.4, label="paper")
        ax.set_xticks(list(x), [r[0] for r in results], rotation=35, ha="right", fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel("BFLOPs")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
        print(f"saved {args.plot}")


if __name__ == "__main__":
    main()
