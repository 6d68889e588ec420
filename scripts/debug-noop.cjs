// The bundle's stand-in for the `debug` package (koa's and @koa/router's DEBUG=koa* tracing): loading the real
// one pulls in tty, os and supports-color at start-up (≈ 0.3 MB) for output podmeta never enables. Same shape:
// createDebug(namespace) returns a disabled logger.
'use strict';
function createDebug(namespace) {
  const log = () => {};
  log.namespace = namespace;
  log.enabled = false;
  log.extend = (sub, delimiter = ':') => createDebug(namespace + delimiter + sub);
  log.log = log;
  return log;
}
createDebug.enable = () => {};
createDebug.disable = () => '';
createDebug.enabled = () => false;
createDebug.debug = createDebug;
createDebug.default = createDebug;
module.exports = createDebug;
