"""PNG charts of results people look at (matplotlib, no display needed)."""
from __future__ import annotations

from pathlib import Path


def plot_profile(prof, title: str, path: str | Path) -> Path:
    """Per-layer GFLOPs and CIO bars, one panel each (the paper's Fig. 7 and Fig. 8)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    idx = range(len(prof.layers))
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(max(8, len(prof.layers) * 0.08), 6), sharex=True)
    ax1.bar(idx, [s.flops / 1e9 for s in prof.layers], color="tab:blue", width=0.8)
    ax1.set_ylabel("GFLOPs")
    ax1.set_title(f"{title} @ {prof.input_shape[2]}x{prof.input_shape[3]}: "
                  f"{prof.gflops:.3f} GFLOPs, {prof.params / 1e6:.2f}M params, CIO {prof.cio / 1e6:.1f}M")
    ax2.bar(idx, [s.cio / 1e6 for s in prof.layers], color="tab:orange", width=0.8)
    ax2.set_ylabel("CIO (M)")
    ax2.set_xlabel("layer index (cspdet info lists them)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
