// The API and node sources' status: the one reporter every source uses (src/status.ts), plus the API's
// "starting" state.

import type { StatusError } from '../status.js';

export { StatusReporter } from '../status.js';

export const STARTING: StatusError = {
  reason: 'Starting',
  message: 'waiting for the first answer from the API server',
  hint: 'nothing to do; if this stays, the API server is slow to answer or unreachable',
};
