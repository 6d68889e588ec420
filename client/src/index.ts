// @podmeta/client — a typed, zero-dependency client for the podmeta sidecar.
export { createClient } from './client.js';
export type { ClientOptions, CallOptions, WaitOptions, WaitResult, PodmetaClient } from './client.js';
export { PodmetaError } from './errors.js';
export type { NoAnswerReason } from './errors.js';
export { Watch, KEEPALIVE_MAX_MS } from './watch.js';
export type { WatchItem, WatchOptions } from './watch.js';
export type { PathValue, At } from './paths.js';
export type * from './document.js';
