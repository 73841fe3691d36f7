"""`plot_by_step`: curves against the training step, one panel per metric, optional spread bands
(matplotlib, Agg backend). Used by `vigor eval --checkpoints` and `vigor compare`."""

from __future__ import annotations

import math


LEGEND_INSIDE = 4  # the most line labels a panel's legend may hold inside the panel


def plot_by_step(path, panels: list[tuple[str, str, dict]], *, columns: int = 2) -> None:
    """panels: (title, y label, {line label: (steps, values, low, high)}); low/high (the band) may be None."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    columns = min(columns, len(panels))
    rows = math.ceil(len(panels) / columns)
    # more than LEGEND_INSIDE lines: the legend goes below its panel (inside, it would hide the lines), and the
    # figure grows by a line of legend per label; constrained layout keeps the legends clear of the panels below
    most = max((len(lines) for _, _, lines in panels), default=0)
    below = most > LEGEND_INSIDE
    height = 3.4 + (0.17 * most + 0.3 if below else 0)
    fig, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, height * rows), squeeze=False,
                             layout="constrained")
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
        if lines and below:
            ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
        elif lines:
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.savefig(path, dpi=110)
    plt.close(fig)
