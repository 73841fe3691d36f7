"""plot_by_step: a panel with more lines than fit inside gets its legend below, in a taller figure (the why-135m
study's 7 arms hid the curves under an inside legend)."""
import struct

from vigor.evaluation.plots import LEGEND_INSIDE, plot_by_step


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def lines(n):
    return {f"arm number {k} with a long label+learning_rate=2e-6": ([0, 8, 16], [0.1 * k, 0.2, 0.3], None, None)
            for k in range(n)}


def test_a_crowded_legend_goes_below_in_a_taller_figure(tmp_path):
    few, many = tmp_path / "few.png", tmp_path / "many.png"
    plot_by_step(few, [("t", "y", lines(LEGEND_INSIDE))], columns=1)
    plot_by_step(many, [("t", "y", lines(LEGEND_INSIDE + 3))], columns=1)
    (w_few, h_few), (w_many, h_many) = png_size(few), png_size(many)
    # the extra height holds the legend: at least a line of text (7 pt at 110 dpi, about 11 px) per label
    assert h_many - h_few >= 11 * (LEGEND_INSIDE + 3)


def test_panels_of_a_grid_each_keep_their_legend(tmp_path):
    path = tmp_path / "grid.png"
    plot_by_step(path, [("a", "y", lines(7)), ("b", "y", lines(2)), ("c", "y", lines(7))], columns=2)
    width, height = png_size(path)
    assert width > 800 and height > 2 * 3.4 * 110
