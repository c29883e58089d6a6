'use strict';
// require('dnnfuse/testkit'): see index.cjs.
module.exports = require('./load.cjs')('dnnfuse/testkit', () => require('../dist/testkit/index.js'));
