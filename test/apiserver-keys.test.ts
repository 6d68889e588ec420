// One key matcher for PODMETA_NODE_LABELS and PODMETA_ANNOTATIONS_EXCLUDE (src/keys.ts), and maps built
// from outside data keeping every key, "__proto__" included (issue 10 item 3).
import test from 'node:test';
import assert from 'node:assert/strict';
import { keyMatcher, putKey } from '../src/keys.js';
import { mergeParts } from '../src/merge.js';
import { filterLabels } from '../src/apiserver/node.js';
import { podToPart } from '../src/apiserver/pod.js';

test('keyMatcher: exact keys; "a/" and "a*" are prefixes; "*" matches all; blanks ignored — one syntax for both lists', () => {
  const m = keyMatcher([' topology.kubernetes.io/zone ', 'node.kubernetes.io/', 'example.com*', '', 'kubectl.kubernetes.io/last-applied-configuration']);
  assert.equal(m('topology.kubernetes.io/zone'), true);
  assert.equal(m('topology.kubernetes.io/zone2'), false, 'exact means exact');
  assert.equal(m('node.kubernetes.io/instance-type'), true, 'a trailing / is a prefix');
  assert.equal(m('node.kubernetes.io'), false, 'the / is part of the prefix');
  assert.equal(m('example.com/rack'), true);
  assert.equal(m('example.community'), true, '* is a plain string prefix');
  assert.equal(m('kubectl.kubernetes.io/last-applied-configuration'), true);
  assert.equal(m(''), false, 'an empty entry is not a prefix of everything');
  assert.equal(keyMatcher(['*'])('anything'), true);
  assert.equal(keyMatcher([])('anything'), false);
});

test('the annotation filter and the node label filter agree on the same patterns', () => {
  const patterns = ['a.io/', 'b.io/x', 'c*'];
  const keys = ['a.io/1', 'a.io', 'b.io/x', 'b.io/xy', 'c', 'cc/d', 'd'];
  const labels = Object.fromEntries(keys.map((k) => [k, 'v']));
  const fromNode = Object.keys(filterLabels(labels, patterns)).sort();
  const body = mergeParts({ downward: { pod: { annotations: labels } } }, keyMatcher(patterns));
  const kept = Object.keys(body.pod.annotations ?? {});
  assert.deepEqual(fromNode, keys.filter((k) => !kept.includes(k)).sort(), 'exactly the node-selected keys are the excluded annotations');
});

test('"__proto__" survives every map built from outside data: putKey, merge filter, pod labels/annotations, node labels', () => {
  const raw = JSON.parse('{"__proto__":"x","a":"1"}') as Record<string, string>;
  assert.deepEqual(Object.keys(raw), ['__proto__', 'a'], 'JSON.parse makes it an own key');
  const m = {} as Record<string, string>;
  putKey(m, '__proto__', 'x');
  assert.equal(Object.getPrototypeOf(m), Object.prototype, 'the prototype is untouched');
  assert.equal(JSON.stringify(m), '{"__proto__":"x"}');

  const body = mergeParts({ downward: { pod: { annotations: raw, labels: raw } } }, keyMatcher(['a']));
  assert.equal(JSON.stringify(body.pod.annotations), '{"__proto__":"x"}', 'merge keeps it (and drops the excluded key)');

  const part = podToPart({ metadata: { name: 'p', labels: raw, annotations: raw } }, { includeMeta: true });
  assert.equal(JSON.stringify(part.pod?.labels), '{"__proto__":"x","a":"1"}');
  assert.equal(JSON.stringify(part.pod?.annotations), '{"__proto__":"x","a":"1"}');
  assert.equal(JSON.stringify(filterLabels(raw, ['*'])), '{"__proto__":"x","a":"1"}');
});
