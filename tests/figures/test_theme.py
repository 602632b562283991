"""The house style: the title, the legend and the plot never overlap, whatever the title's lines, the
number of legend entries or the subplot titles; a builder's wider margins survive."""

import plotly.graph_objects as go
import pytest
from plotly.subplots import make_subplots

from workbench.figures import theme


def _lines(n: int, *, height: int | None = None) -> go.Figure:
    fig = go.Figure([go.Scatter(x=[0, 1], y=[i, i + 1], name=f"line {i}") for i in range(n)])
    if height:
        fig.update_layout(height=height)
    return fig


def _blocks(fig: go.Figure) -> tuple[float, float, float]:
    """(bottom of the title block, top of the legend, top of the plot area), pixels from the top."""
    height = fig.layout.height or theme.DEFAULT_HEIGHT_PX
    title_top = (1 - fig.layout.title.y) * height
    lines = 1 + fig.layout.title.text.count("<br>")
    title_bottom = title_top + theme.TITLE_LINE_PX + theme.SUBTITLE_LINE_PX * (lines - 1)
    legend_top = (1 - fig.layout.legend.y) * height
    return title_bottom, legend_top, fig.layout.margin.t


@pytest.mark.parametrize("subtitle", ["", "<br><sub>截至 2026-11-22</sub>", "<br>a<br><sup>b</sup>"])
def test_legend_sits_between_the_title_and_the_plot(subtitle):
    fig = theme.apply(_lines(3), title="各期平均留存率" + subtitle)
    title_bottom, legend_top, plot_top = _blocks(fig)
    assert fig.layout.legend.yref == "container" and fig.layout.legend.yanchor == "top"
    assert title_bottom <= legend_top
    assert legend_top + theme.LEGEND_ROW_PX <= plot_top


def test_a_long_legend_takes_more_rows_and_more_room():
    short = theme.apply(_lines(2), title="t")
    long = theme.apply(_lines(2), title="t")
    long.data[0].name = long.data[1].name = "先加好友后进群再加企微" * 4  # two entries too wide for one row
    long = theme.apply(long)
    assert theme._legend_rows(short) == 1 and theme._legend_rows(long) == 2
    assert long.layout.margin.t == short.layout.margin.t + theme.LEGEND_ROW_PX


def test_no_legend_no_room_for_one():
    one = theme.apply(_lines(1), title="t")
    table = theme.apply(go.Figure(go.Table(cells={"values": [[1]]})), title="t")
    assert theme._legend_rows(one) == 0 and theme._legend_rows(table) == 0
    assert one.layout.margin.t == table.layout.margin.t < theme.apply(_lines(2), title="t").layout.margin.t


def test_top_subplot_titles_get_their_own_band():
    plain = theme.apply(_lines(2), title="t")
    fig = make_subplots(rows=2, cols=1, subplot_titles=["a", "b"])
    fig.add_trace(go.Scatter(x=[0], y=[0], name="x"), row=1, col=1)
    fig.add_trace(go.Scatter(x=[0], y=[0], name="y"), row=2, col=1)
    fig = theme.apply(fig, title="t")
    assert fig.layout.margin.t == plain.layout.margin.t + theme.SUBPLOT_TITLE_PX


def test_a_builders_wider_margin_is_kept_and_apply_twice_changes_nothing():
    fig = _lines(2, height=600)
    fig.update_layout(margin={"b": 120})
    fig = theme.apply(fig, title="t<br><sub>s</sub>")
    assert fig.layout.margin.b == 120 and fig.layout.margin.l == theme.MARGIN["l"]
    before = fig.to_plotly_json()["layout"]
    assert theme.apply(fig).to_plotly_json()["layout"] == before
    assert fig.layout.legend.y == pytest.approx(1 - (theme.TITLE_TOP_PX + 24 + 18 + theme.GAP_PX) / 600)
