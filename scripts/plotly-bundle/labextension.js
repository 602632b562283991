// A JupyterLab mime renderer for plotly figures (application/vnd.plotly.v1+json) drawing with the workbench
// bundle of plotly.js (entry.js). Voila loads it in place of the jupyterlab-plotly extension when it serves
// the dashboards (workbench/dashboards/serve.py), so a manager's browser compiles 1.5 MB of plotly.js
// instead of 4.8 MB and no figure is also turned into a PNG after each draw.
import { Widget } from '@lumino/widgets';

const Plotly = require('./entry.js');

const MIME_TYPE = 'application/vnd.plotly.v1+json';

// Graphs of outputs that a newer output of the same pane replaced, by pane (the output's metadata names it,
// workbench.dashboards.common.figure_output): the pane's next figure is drawn into its last graph, where
// Plotly.react redraws what changed, rather than into a new one drawn from scratch. A dashboard's filter
// change replaces each figure's output; on the overview at 1M, drawing into the kept graphs took a third less
// of the page's main-thread time and a redraw whose results were at hand 0.32-0.90 s instead of 0.42-1.11 s.
const kept = new Map();

class RenderedPlotly extends Widget {
    constructor(options) {
        super();
        this.addClass('jp-RenderedPlotly');
        this._mimeType = options.mimeType;
        this._pane = null;
        this._graph = null;
    }

    // Draws the figure of the output's model; a later model for the same output redraws in place. An output
    // is rendered before it is on the page: the figure is drawn once it is (onAfterAttach), at the page's
    // width, rather than at plotly's default width and again when attached.
    renderModel(model) {
        this._figure = model.data[this._mimeType];
        const meta = (model.metadata || {})[this._mimeType];
        this._pane = (meta && meta.pane) || null;
        return this.isAttached ? this._draw() : Promise.resolve();
    }

    // The element plotly draws in: the pane's kept graph when there is one, else a new one.
    _graphNode() {
        if (!this._graph) {
            const old = this._pane === null ? undefined : kept.get(this._pane);
            if (old) {
                kept.delete(this._pane);
            }
            this._graph = old || document.createElement('div');
            this.node.appendChild(this._graph);
        }
        return this._graph;
    }

    _draw() {
        const figure = this._figure;
        this._figure = null;
        const layout = Object.assign({}, figure.layout);
        if (!layout.height) {
            layout.height = 360;
        }
        const graph = this._graphNode();
        const kind = figureKind(figure);
        const margin = graph._wbKind === kind ? marginsDrawn(graph, layout.margin) : null;
        if (margin) {
            layout.margin = margin;
        }
        graph._wbKind = kind;
        // (after the graph's rehearsal draw, if one is under way)
        const drawn = (graph._wbBusy || Promise.resolve())
            .then(() => Plotly.react(graph, figure.data, layout, figure.config))
            .then(() => (figure.frames ? Plotly.addFrames(graph, figure.frames) : undefined));
        graph._wbBusy = drawn.catch(() => undefined);
        const shown = { data: figure.data, layout, config: figure.config };
        graph._wbDrawn = shown;
        if (graph._wbRehearsals === undefined && !figure.frames) {
            graph._wbRehearsals = 0;
            graph._wbBusy.then(() => rehearse(graph, shown));
        }
        return drawn;
    }

    onAfterAttach() {
        if (this._figure) {
            this._draw();
        } else {
            this._fit();
        }
    }

    onAfterShow() {
        this._fit();
    }

    onResize() {
        this._fit();
    }

    // A drawn figure whose width is not its output's (the page was resized, or it was drawn while hidden)
    // is redrawn at the output's width.
    _fit() {
        const graph = this._graph;
        const drawn = graph && graph._fullLayout;
        if (this.isAttached && this.isVisible && drawn && Math.abs(drawn.width - this.node.clientWidth) > 2) {
            Plotly.Plots.resize(graph);
        }
    }

    // A drawn graph of a pane is kept for the pane's next output (one per pane); any other is purged.
    dispose() {
        if (!this.isDisposed && this._graph) {
            const graph = this._graph;
            this._graph = null;
            if (this._pane !== null && graph._fullLayout) {
                const previous = kept.get(this._pane);
                if (previous && previous !== graph) {
                    Plotly.purge(previous);
                }
                graph.remove();
                kept.set(this._pane, graph);
            } else {
                Plotly.purge(graph);
            }
        }
        super.dispose();
    }
}

// A figure's kind: its traces' types. A pane's next figure of the same kind (the same chart for other
// filter values) starts from the margins its last figure was drawn with.
function figureKind(figure) {
    return JSON.stringify((figure.data || []).map((trace) => trace.type || 'scatter'));
}

// The figure's own margins (``margin``), each side widened to the one the graph's last figure was drawn
// with; null when the graph has not been drawn or the figure fixes its margins (autoexpand false).
// Plotly widens a margin for long tick labels and titles (automargin) by drawing the whole figure a second
// time; starting from the margins it found last time, it draws once unless the new labels need more room.
// On the dashboards' filter changes that halved the draw of the store ranking and the cohort heatmap. A
// margin so never narrows within a pane: the plot area keeps its place as a manager clicks through values.
function marginsDrawn(graph, margin) {
    const drawn = graph._fullLayout && graph._fullLayout._size;
    const own = margin || {};
    if (!drawn || own.autoexpand === false) {
        return null;
    }
    const widened = Object.assign({}, own);
    for (const side of ['l', 'r', 't', 'b']) {
        widened[side] = Math.max(own[side] || 0, Math.ceil(drawn[side]));
    }
    return widened;
}

// How often a graph is redrawn out of turn after its first draw (rehearse); a page may set
// window.wbPlotlyRehearsals (0: never) before the figures are drawn, to measure with and without.
const REHEARSALS = 3;

// The first filter change on a newly opened page took longer than the next one (on the overview at demo
// size, a median of 0.54 s against 0.43 s): the browser was still running plotly's redraw code for the first
// times, before compiling it. So once a graph is first drawn, it is redrawn a few times more, with a copy of
// its own figure, when the browser is idle: the same picture, but new arrays, so that plotly goes through the
// whole redraw a filter change takes. One draw per idle period, so that a click waits for one draw at most;
// the rehearsal stops as soon as the graph is given another figure, is hidden or leaves the page.
function rehearse(graph, drawn) {
    const times = window.wbPlotlyRehearsals === undefined ? REHEARSALS : window.wbPlotlyRehearsals;
    if (graph._wbRehearsals >= times) {
        return;
    }
    const idle = window.requestIdleCallback || ((callback) => setTimeout(callback, 50));
    idle(() => {
        // (not into a hidden graph, e.g. under the no-data message: plotly would size it anew, and the
        // kernel does not send a figure again when it is unchanged)
        const visible = graph.isConnected && graph.getClientRects().length > 0;
        if (graph._wbDrawn !== drawn || !visible || !graph._fullLayout) {
            return;
        }
        const copy = JSON.parse(JSON.stringify({ data: drawn.data, layout: drawn.layout }));
        copy.layout.margin = marginsDrawn(graph, copy.layout.margin) || copy.layout.margin;
        graph._wbRehearsals += 1;
        graph._wbBusy = graph._wbBusy
            .then(() => Plotly.react(graph, copy.data, copy.layout, drawn.config))
            .catch(() => undefined);
        graph._wbBusy.then(() => rehearse(graph, drawn));
    }, { timeout: 5000 });
}

const rendererFactory = {
    safe: true,
    mimeTypes: [MIME_TYPE],
    createRenderer: (options) => new RenderedPlotly(options),
};

export default [
    {
        id: 'workbench-plotly:factory',
        rendererFactory,
        rank: 0,
        dataType: 'json',
    },
];
