// The trace types of workbench/figures (scatter comes with the core). Keep in step with TRACES in build.js.
var Plotly = require('plotly.js/lib/core');

Plotly.register([
    require('plotly.js/lib/bar'),
    require('plotly.js/lib/funnel'),
    require('plotly.js/lib/heatmap'),
    require('plotly.js/lib/sankey'),
    require('plotly.js/lib/table'),
]);

module.exports = Plotly;
