"""Per-epoch results: ``results.csv`` written as training goes, ``results.png`` at the end."""
from __future__ import annotations

import csv
from pathlib import Path

COLUMNS = ["epoch", "train/box", "train/obj", "train/cls", "lr", "AP50", "AP", "AP75", "APs", "APm", "APl"]


class ResultsLog:
    """``keep``: a resumed run continues its own history; a new one (even in a reused
    ``--exist-ok`` folder) starts an empty table."""

    def __init__(self, run_dir: Path, keep: bool = True):
        self.path = Path(run_dir) / "results.csv"
        self.rows: list[dict] = []
        if keep and self.path.is_file():
            with self.path.open() as f:
                self.rows = [{k: float(v) if v not in ("", None) else None for k, v in r.items()}
                             for r in csv.DictReader(f)]

    def add(self, epoch: int, losses: list[float], lr: float, metrics: dict) -> None:
        row = {"epoch": epoch + 1, "train/box": losses[0], "train/obj": losses[1], "train/cls": losses[2], "lr": lr}
        row.update({k: metrics.get(k) for k in COLUMNS[5:]})
        self.rows = [r for r in self.rows if r["epoch"] != epoch + 1] + [row]
        tmp = self.path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as f:
            w = csv.DictWriter(f, COLUMNS)
            w.writeheader()
            w.writerows(self.rows)
        tmp.replace(self.path)

    def plot(self) -> Path:
        """Loss terms and mAP per epoch, one panel each, as results.png."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(12, 6))
        axes = fig.subplots(2, 3).ravel()
        epochs = [r["epoch"] for r in self.rows]
        for ax, key in zip(axes, ["train/box", "train/obj", "train/cls", "AP50", "AP", "lr"]):
            pts = [(e, r[key]) for e, r in zip(epochs, self.rows) if r.get(key) is not None]
            if pts:
                ax.plot(*zip(*pts), marker="o", markersize=3)
            ax.set_title(key)
            ax.set_xlabel("epoch")
        fig.tight_layout()
        out = self.path.with_name("results.png")
        fig.savefig(out, dpi=100)
        return out
