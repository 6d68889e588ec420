// Pure parsing of downwardAPI volume files (kubelet pkg/volume/util/atomic_writer.go, pkg/fieldpath/fieldpath.go, pkg/api/v1/resource/helpers.go). The watcher reads the files
// through `..data` and hands each (relative path, bytes) here; it keeps the last good item for a path whose
// parse now fails.
//
// Name recognition, first match wins:
//  1. pod fields: the path with separators/case removed matches (pod)?(metadata)?(name|namespace|uid|labels|annotations):
//     `podName`, `pod/name`, `POD_NAME`, `name`, `podUID`, `metadata/labels`, `podAnnotations`, `pod/metadata/uid`…
//  2. resources: parseResourceName (quantity.ts): `requests/cpu`, `limits/memory`, `containerCpuRequestMilliCores`…
//  3. anything else: an unknown file, served raw (UTF-8 decoded) under `files[relPath]`.
// Values are kept byte-exact: kubelet writes name/namespace/uid without a trailing newline, so none is stripped.

import type { PodInfo, ResourceReading, SourcePart } from '../document.js';
import { parseResourceName, readingFromValue } from '../quantity.js';
import { GoQuoteError, decodeUtf8, parseGoMap } from './goquote.js';

export type VolumeItem =
  | { type: 'pod'; field: 'name' | 'namespace' | 'uid'; value: string }
  | { type: 'map'; field: 'labels' | 'annotations'; value: Record<string, string> }
  | { type: 'resource'; reading: ResourceReading }
  | { type: 'file'; value: string }
  | { type: 'error'; message: string };

type PodField = 'name' | 'namespace' | 'uid' | 'labels' | 'annotations';

const POD_FIELD = /^(?:pod)?(?:metadata)?(name|namespace|uid|labels|annotations)$/;

/** Which pod field a volume path names, if any (case- and separator-insensitive). */
export function podFieldOf(relPath: string): PodField | undefined {
  const squashed = relPath.toLowerCase().replace(/[^a-z0-9]/g, '');
  const m = POD_FIELD.exec(squashed);
  return m?.[1] as PodField | undefined;
}

/**
 * One downwardAPI volume file → a typed item. `relPath` is the path inside the volume with '/' separators.
 * Malformed content (a bad labels/annotations file, a non-integer resource value, an empty name/namespace/uid,
 * an internal `..` path) → `{type: 'error'}` with a message naming the path.
 */
export function parseVolumeFile(relPath: string, content: Uint8Array): VolumeItem {
  if (relPath === '' || relPath.split('/').some((seg) => seg === '' || seg.startsWith('..'))) {
    return { type: 'error', message: `${JSON.stringify(relPath)}: not a volume item path (internal or empty)` };
  }
  const field = podFieldOf(relPath);
  if (field === 'labels' || field === 'annotations') {
    try {
      return { type: 'map', field, value: parseGoMap(content) };
    } catch (err) {
      const message = err instanceof GoQuoteError ? err.message : String(err);
      return { type: 'error', message: `${relPath}: malformed ${field} file: ${message}` };
    }
  }
  if (field !== undefined) {
    const value = decodeUtf8(content);
    if (value === '') return { type: 'error', message: `${relPath}: empty file (pod ${field} cannot be empty)` };
    return { type: 'pod', field, value };
  }
  const spec = parseResourceName(relPath);
  if (spec !== undefined) {
    try {
      return { type: 'resource', reading: readingFromValue(spec, decodeUtf8(content)) };
    } catch (err) {
      return { type: 'error', message: `${relPath}: ${(err as Error).message}` };
    }
  }
  return { type: 'file', value: decodeUtf8(content) };
}

const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

/**
 * Items (keyed by relPath) → the volume's SourcePart. Paths are visited in byte-wise sorted order, so the result
 * does not depend on the map's insertion order; when two paths name the same pod field (`podName` and `pod/name`)
 * the first in that order wins. Readings keep that order too (resourcesFromReadings breaks ties by order).
 * Items of type 'error' are skipped. Empty sections are absent.
 */
export function assembleVolumePart(items: ReadonlyMap<string, VolumeItem>): SourcePart {
  const pod: { -readonly [K in keyof PodInfo]: PodInfo[K] } = {};
  const readings: ResourceReading[] = [];
  const files: [string, string][] = [];
  for (const relPath of [...items.keys()].sort(byteOrder)) {
    const item = items.get(relPath)!;
    switch (item.type) {
      case 'pod':
        pod[item.field] ??= item.value;
        break;
      case 'map':
        pod[item.field] ??= item.value;
        break;
      case 'resource':
        readings.push(item.reading);
        break;
      case 'file':
        files.push([relPath, item.value]);
        break;
      case 'error':
        break;
    }
  }
  const part: SourcePart = {};
  if (Object.keys(pod).length > 0) part.pod = pod;
  if (readings.length > 0) part.readings = readings;
  if (files.length > 0) part.files = Object.fromEntries(files);
  return part;
}
