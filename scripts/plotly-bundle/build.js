// Builds ../../workbench/reporting/static/plotly/plotly-workbench.min.js with plotly.js's own esbuild
// settings (esbuild-config.js of plotly.js 4.1.1), minified, licences kept at the end of the file.
const fs = require('fs');
const path = require('path');
const esbuild = require('esbuild');
const InlineCSSPlugin = require('esbuild-plugin-inline-css');
const { environmentPlugin } = require('esbuild-plugin-environment');

const VERSION = require('plotly.js/package.json').version;
const TRACES = ['scatter', 'bar', 'funnel', 'heatmap', 'sankey', 'table'];
const OUT = path.join(__dirname, '..', '..', 'workbench', 'reporting', 'static', 'plotly', 'plotly-workbench.min.js');

esbuild.build({
    entryPoints: [path.join(__dirname, 'entry.js')],
    format: 'iife',
    globalName: 'Plotly',
    bundle: true,
    minify: true,
    write: false,
    legalComments: 'eof',
    plugins: [InlineCSSPlugin(), environmentPlugin({ NODE_DEBUG: false })],
    alias: { stream: 'stream-browserify' },
    define: { global: 'window', 'define.amd': 'false' },
    target: 'es2016',
    logLevel: 'warning',
}).then((result) => {
    const code = result.outputFiles[0].text;
    // The header names the version and the traces; workbench.reporting.plotlyjs reads both.
    const text = '/**\n* plotly.js v' + VERSION + ' (workbench bundle: ' + TRACES.join(',') + ')\n' +
        '* Copyright 2012-2026, Plotly, Inc. Licensed under the MIT license\n*/\n' +
        '(function () {\n' + code + '\nwindow.Plotly = Plotly;\n})();\n';
    fs.writeFileSync(OUT, text);
    console.log(OUT.replace(path.join(__dirname, '..', '..') + path.sep, '') + ': ' + text.length + ' bytes');
});
