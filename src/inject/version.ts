// The default image to inject, `podmeta:<version>`: the version baked into the bundle, or package.json's when
// running from source (tsx), so both give the image that k8s/kustomization.yaml tags.
import { readFileSync } from 'node:fs';
import { BUILD } from '../build-info.js';

export function defaultImage(): string {
  if (BUILD.version !== 'dev') return `podmeta:${BUILD.version}`;
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    if (pkg.version) return `podmeta:${pkg.version}`;
  } catch {
    // not in a checkout
  }
  return 'podmeta:dev';
}

/** An image reference: [registry/]name[:tag][@digest], no whitespace or shell characters. */
export const IMAGE_REF = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:\/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$/;
