'use strict';
/**
 * Loads an ES module of dnnfuse with require() where Node can (require(esm): Node >= 20.19,
 * >= 22.12); elsewhere throws one line naming the fix.
 * @param {string} name the specifier the caller required
 * @param {() => unknown} load requires the module
 */
module.exports = function loadEsm(name, load) {
  try {
    return load();
  } catch (e) {
    const code = e && typeof e === 'object' ? e.code : undefined;
    if (code !== 'ERR_REQUIRE_ESM' && code !== 'ERR_REQUIRE_ASYNC_MODULE') throw e;
    const err = new Error(`${name} is an ES module and this Node.js (${process.version}) cannot require() it: use \`const dnnfuse = await import('${name}')\` (or Node.js >= 20.19 / >= 22.12, where require('${name}') works)`);
    Object.defineProperty(err, 'code', { value: 'ERR_REQUIRE_ESM' });
    // the message is the whole story: no frames from inside this loader
    err.stack = `Error [ERR_REQUIRE_ESM]: ${err.message}`;
    throw err;
  }
};
