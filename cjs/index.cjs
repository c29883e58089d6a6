'use strict';
// require('dnnfuse'). dnnfuse is an ES module package; Node >= 20.19 and >= 22.12 load ES
// modules with require() (the same module instance `import` gets), older Node versions cannot
// and get a one-line error saying how to load it instead of a stack trace from inside dist/.
module.exports = require('./load.cjs')('dnnfuse', () => require('../dist/index.js'));
