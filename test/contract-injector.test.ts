// Contract "Injection" / webhook: the defaults the contract fixes had no test of their own (the manifests test
// checks k8s/ sets them, not what the program does without them): PODMETA_INJECTOR_LISTEN defaults to
// 0.0.0.0:8443, the injected image to podmeta:<package version>, and PODMETA_INJECTOR_IMAGE sets it.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseInjectorConfig } from '../src/inject/config.js';

const VERSION = (JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;

test('contract "Webhook": PODMETA_INJECTOR_LISTEN defaults to 0.0.0.0:8443; the image to podmeta:<version>; PODMETA_INJECTOR_IMAGE sets it', () => {
  const d = parseInjectorConfig({});
  assert.deepEqual(d.listen, { host: '0.0.0.0', port: 8443 });
  assert.equal(d.image, `podmeta:${VERSION}`);
  const set = parseInjectorConfig({ PODMETA_INJECTOR_LISTEN: '127.0.0.1:9443', PODMETA_INJECTOR_IMAGE: 'registry.example.com/podmeta:9.9.9' });
  assert.deepEqual(set.listen, { host: '127.0.0.1', port: 9443 });
  assert.equal(set.image, 'registry.example.com/podmeta:9.9.9');
});
