// A small Dockerfile parser (comments, line continuations, global ARGs, stages, instructions) and the
// .dockerignore semantics, shared by test/dockerfile.test.ts (the image's properties) and
// test/image-smoke.test.ts (which assembles the final stage's files from the same parse).
import { readdir } from 'node:fs/promises';
import path from 'node:path';

// ---------------------------------------------------------------------------------------------------------------
// A small Dockerfile parser: comments, line continuations, global ARGs, stages, instructions.

export interface Instruction {
  keyword: string;
  args: string;
}
export interface Stage {
  index: number;
  name: string | undefined;
  /** image after global ARG substitution, or the name of an earlier stage */
  from: string;
  /** FROM --platform=…, if given */
  platform: string | undefined;
  instructions: Instruction[];
}
export interface Dockerfile {
  globalArgs: Map<string, string | undefined>;
  stages: Stage[];
}

export function parseDockerfile(text: string): Dockerfile {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split(/\r?\n/)) {
    if (/^\s*#/.test(raw)) continue; // comments (and parser directives) vanish, even inside a continuation
    if (pending === '' && raw.trim() === '') continue;
    const cont = /\\\s*$/.test(raw);
    pending += (pending ? ' ' : '') + (cont ? raw.replace(/\\\s*$/, '') : raw).trim();
    if (!cont) {
      logical.push(pending);
      pending = '';
    }
  }
  if (pending) logical.push(pending);

  const globalArgs = new Map<string, string | undefined>();
  const stages: Stage[] = [];
  for (const line of logical) {
    const m = /^(\S+)\s*(.*)$/.exec(line);
    if (!m) continue;
    const keyword = m[1]!.toUpperCase();
    const args = m[2]!.trim();
    if (keyword === 'FROM') {
      const words = args.split(/\s+/).filter((w) => !w.startsWith('--'));
      const platform = /--platform=(\S+)/.exec(args)?.[1];
      const image = substitute(words[0] ?? '', globalArgs);
      const name = words[1]?.toLowerCase() === 'as' ? words[2] : undefined;
      stages.push({ index: stages.length, name, from: image, platform, instructions: [] });
    } else if (stages.length === 0) {
      if (keyword === 'ARG') {
        const [k, v] = splitArg(args);
        globalArgs.set(k, v === undefined ? v : substitute(v, globalArgs)); // an ARG default may use earlier ARGs
      }
    } else {
      stages.at(-1)!.instructions.push({ keyword, args });
    }
  }
  return { globalArgs, stages };
}

export function splitArg(args: string): [string, string | undefined] {
  const eq = args.indexOf('=');
  return eq < 0 ? [args, undefined] : [args.slice(0, eq), unquote(args.slice(eq + 1))];
}

export const unquote = (s: string) => s.replace(/^"(.*)"$/, '$1').replace(/^'(.*)'$/, '$1');

export function substitute(s: string, vars: ReadonlyMap<string, string | undefined>): string {
  return s.replace(/\$\{(\w+)\}|\$(\w+)/g, (all, a?: string, b?: string) => vars.get((a ?? b)!) ?? all);
}

/** `k=v k2="v 2"` → map (LABEL, ENV in key=value form). */
export function keyValues(args: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of args.matchAll(/([\w.\-/]+)=("(?:[^"\\]|\\.)*"|\S+)/g)) out.set(m[1]!, unquote(m[2]!));
  return out;
}

export function copyParts(args: string): { from: string | undefined; chmod: string | undefined; sources: string[]; dest: string } {
  const words = args.split(/\s+/);
  const flags = words.filter((w) => w.startsWith('--'));
  const rest = words.filter((w) => !w.startsWith('--'));
  const flag = (name: string) => flags.find((f) => f.startsWith(`--${name}=`))?.slice(name.length + 3);
  return { from: flag('from'), chmod: flag('chmod'), sources: rest.slice(0, -1), dest: rest.at(-1) ?? '' };
}


// ---------------------------------------------------------------------------------------------------------------
// The build context: what `COPY . .` gives the build stage after .dockerignore, and whether the build has all it
// needs in it (the build cannot run here; its inputs can be checked).

/** .dockerignore semantics: Go filepath.Match per segment, `**` any depth, `!` re-includes, last match wins; a
 *  pattern matching a directory excludes everything under it. */
export function ignoreMatcher(text: string): (rel: string) => boolean {
  const rules = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pat = path.posix.normalize((negate ? l.slice(1) : l).trim()).replace(/^\/+|\/+$/g, '');
      const re = pat
        .split('/')
        .map((seg) => (seg === '**' ? '.*' : seg.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')))
        .join('/');
      return { negate, re: new RegExp(`^${re}$`) };
    });
  return (rel) => {
    const prefixes = rel.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
    let ignored = false;
    for (const r of rules) if (prefixes.some((p) => r.re.test(p))) ignored = !r.negate;
    return ignored;
  };
}

/** The build context: every file under root that .dockerignore (as `ignore`) leaves in, as root-relative paths. */
export async function contextFiles(root: string, ignore: (rel: string) => boolean): Promise<Set<string>> {
  const out = new Set<string>();
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(path.join(root, dir), { withFileTypes: true })) {
      const rel = dir ? `${dir}/${e.name}` : e.name;
      if (e.name === 'node_modules' || e.name === '.git') continue; // excluded (checked separately), and huge
      if (e.isDirectory()) await walk(rel);
      else if (!ignore(rel)) out.add(rel);
    }
  };
  await walk('');
  return out;
}

