// A JupyterLab mime renderer for plotly figures (application/vnd.plotly.v1+json) drawing with the workbench
// bundle of plotly.js (entry.js). Voila loads it in place of the jupyterlab-plotly extension when it serves
// the dashboards (workbench/dashboards/serve.py), so a manager's browser compiles 1.5 MB of plotly.js
// instead of 4.8 MB and no figure is also turned into a PNG after each draw.
import { Widget } from '@lumino/widgets';

const Plotly = require('./entry.js');

const MIME_TYPE = 'application/vnd.plotly.v1+json';

class RenderedPlotly extends Widget {
    constructor(options) {
        super();
        this.addClass('jp-RenderedPlotly');
        this._mimeType = options.mimeType;
    }

    // Draws the figure of the output's model; a later model for the same output redraws in place. An output
    // is rendered before it is on the page: the figure is drawn once it is (onAfterAttach), at the page's
    // width, rather than at plotly's default width and again when attached.
    renderModel(model) {
        this._figure = model.data[this._mimeType];
        return this.isAttached ? this._draw() : Promise.resolve();
    }

    _draw() {
        const figure = this._figure;
        this._figure = null;
        const layout = Object.assign({}, figure.layout);
        if (!layout.height) {
            layout.height = 360;
        }
        return Plotly.react(this.node, figure.data, layout, figure.config).then(() => {
            if (figure.frames) {
                return Plotly.addFrames(this.node, figure.frames);
            }
            return undefined;
        });
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
        const drawn = this.node._fullLayout;
        if (this.isAttached && this.isVisible && drawn && Math.abs(drawn.width - this.node.clientWidth) > 2) {
            Plotly.Plots.resize(this.node);
        }
    }

    dispose() {
        if (!this.isDisposed) {
            Plotly.purge(this.node);
        }
        super.dispose();
    }
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
