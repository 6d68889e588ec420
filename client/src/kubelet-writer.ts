// The test kit's downwardAPI volume, written the way kubelet's AtomicWriter does it: every file into a new
// `..<timestamp>.<random>` dir, a `..data_tmp` link renamed over `..data` (the one atomic step), top-level
// links `name -> ..data/name`, then the old dir removed. (The repo's own tests use the step-by-step
// writer in test/support/kubelet-volume.ts; this one ships in the package.)
import { mkdir, readlink, rename, rm, symlink, writeFile, lstat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { randomInt } from 'node:crypto';

function stamp(now = new Date()): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  const t = `${now.getUTCFullYear()}_${p(now.getUTCMonth() + 1)}_${p(now.getUTCDate())}_${p(now.getUTCHours())}_${p(now.getUTCMinutes())}_${p(now.getUTCSeconds())}`;
  return `..${t}.${randomInt(1_000_000_000, 4_294_967_295)}`;
}

/** Write one generation of `files` (relative paths) into the volume at `dir`. */
export async function writeVolume(dir: string, files: Record<string, string>): Promise<void> {
  await mkdir(dir, { recursive: true });
  let old: string | undefined;
  try {
    old = await readlink(join(dir, '..data'));
  } catch {
    old = undefined;
  }
  const gen = stamp();
  await mkdir(join(dir, gen), { mode: 0o755 });
  for (const [rel, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, gen, rel)), { recursive: true, mode: 0o755 });
    await writeFile(join(dir, gen, rel), text, { mode: 0o644 });
  }
  await rm(join(dir, '..data_tmp'), { force: true });
  await symlink(gen, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  const tops = new Set(Object.keys(files).map((k) => k.split('/')[0]!));
  for (const top of tops) {
    const exists = await lstat(join(dir, top)).then(() => true, () => false);
    if (!exists) await symlink(`..data/${top}`, join(dir, top));
  }
  if (old !== undefined && old !== gen) await rm(join(dir, old), { recursive: true, force: true });
}
