"""`plot_by_step`: curves against the training step, one panel per metric, optional spread bands
(matplotlib, Agg backend). Used by `vigor eval --checkpoints` and `vigor compare`."""

from __future__ import annotations

import math


def plot_by_step(path, panels: list[tuple[str, str, dict]], *, columns: int = 2) -> None:
    """panels: (title, y label, {line label: (steps, values, low, high)}); low/high (the band) may be None."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    columns = min(columns, len(panels))
    rows = math.ceil(len(panels) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 3.4 * rows), squeeze=False)
    for ax, (title, ylabel, lines) in zip(axes.flat, panels):
        for label, (steps, values, low, high) in lines.items():
            (line,) = ax.plot(steps, values, marker="o", markersize=3, label=label)
            if low is not None and high is not None:
                ax.fill_between(steps, low, high, color=line.get_color(), alpha=0.18, linewidth=0)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(ylabel)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if lines:
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
