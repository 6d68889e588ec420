// The one path rule of the HTTP views (GET /metadata/<path> and /events?path=), as HttpErrors.

import { resolveKeys, splitPath, PathError } from '../select.js';
import { HttpError } from './errors.js';

export function keysFromPath(raw: string): string[] {
  try {
    return resolveKeys(splitPath(raw));
  } catch (err) {
    if (err instanceof PathError) throw new HttpError(err.status, err.message);
    throw err;
  }
}

export function notFound(keys: readonly string[]): HttpError {
  return new HttpError(404, `no field ${keys.join('/')}`);
}
