// Builds, with plotly.js's own esbuild settings (esbuild-config.js of plotly.js 4.1.1), minified and with
// the licences kept at the end of each file:
//   workbench/reporting/static/plotly/plotly-workbench.min.js   plotly.js for report pages and decks
//   workbench/dashboards/static/labextensions/workbench-plotly/  the dashboards' figure renderer for Voila
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const esbuild = require('esbuild');
const InlineCSSPlugin = require('esbuild-plugin-inline-css');
const { environmentPlugin } = require('esbuild-plugin-environment');

const VERSION = require('plotly.js/package.json').version;
const TRACES = ['scatter', 'bar', 'funnel', 'heatmap', 'sankey', 'table'];
const ROOT = path.join(__dirname, '..', '..');
const OUT = path.join(ROOT, 'workbench', 'reporting', 'static', 'plotly', 'plotly-workbench.min.js');
const EXTENSION = 'workbench-plotly';
const EXTENSION_DIR = path.join(ROOT, 'workbench', 'dashboards', 'static', 'labextensions', EXTENSION);
// The header names the version and the traces; workbench.reporting.plotlyjs reads both.
const HEADER = '/**\n* plotly.js v' + VERSION + ' (workbench bundle: ' + TRACES.join(',') + ')\n' +
    '* Copyright 2012-2026, Plotly, Inc. Licensed under the MIT license\n*/\n';

function bundle(entry, globalName) {
    return esbuild.build({
        entryPoints: [path.join(__dirname, entry)],
        format: 'iife',
        globalName,
        bundle: true,
        minify: true,
        write: false,
        legalComments: 'eof',
        plugins: [InlineCSSPlugin(), environmentPlugin({ NODE_DEBUG: false })],
        alias: { stream: 'stream-browserify' },
        define: { global: 'window', 'define.amd': 'false' },
        target: 'es2016',
        logLevel: 'warning',
    }).then((result) => result.outputFiles[0].text);
}

function write(file, text) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
    console.log(path.relative(ROOT, file) + ': ' + text.length + ' bytes');
}

async function main() {
    write(OUT, HEADER + '(function () {\n' + (await bundle('entry.js', 'Plotly')) + '\nwindow.Plotly = Plotly;\n})();\n');

    // A module federation container as JupyterLab loads one: window._JUPYTERLAB[name] with init and get.
    const code = await bundle('labextension.js', 'workbenchPlotlyExtension');
    const entry = HEADER + '(function () {\n' + code + '\n' +
        'window._JUPYTERLAB = window._JUPYTERLAB || {};\n' +
        'window._JUPYTERLAB[' + JSON.stringify(EXTENSION) + '] = {\n' +
        '    init: function () { return Promise.resolve(); },\n' +
        '    get: function (module) {\n' +
        '        if (module === "./mimeExtension" || module === "./index") {\n' +
        '            return Promise.resolve(function () { return workbenchPlotlyExtension; });\n' +
        '        }\n' +
        '        return Promise.reject(new Error("Module " + module + " does not exist in container."));\n' +
        '    },\n' +
        '};\n' +
        '})();\n';
    // The file name carries a hash of its content, so a browser never keeps an older build.
    const hash = crypto.createHash('sha256').update(entry).digest('hex').slice(0, 16);
    fs.rmSync(EXTENSION_DIR, { recursive: true, force: true });
    write(path.join(EXTENSION_DIR, 'static', 'remoteEntry.' + hash + '.js'), entry);
    const pkg = {
        name: EXTENSION,
        version: VERSION,
        description: 'Plotly figures in the workbench dashboards, drawn with the workbench bundle of plotly.js',
        license: 'MIT',
        jupyterlab: { mimeExtension: true, _build: { load: 'static/remoteEntry.' + hash + '.js', mimeExtension: './mimeExtension' } },
    };
    write(path.join(EXTENSION_DIR, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
}

main();
