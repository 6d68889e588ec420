// `podmeta inject [-f FILE|-] [--all] [--image IMAGE]`: Kubernetes YAML in (a file, or stdin), the same YAML out
// on stdout with podmeta injected into every opted-in pod template. What happened to each workload goes to
// stderr (like `linkerd inject`). Exit 0 on success, 1 when a template is refused (an invalid podmeta.io/*
// annotation) or the input cannot be read or parsed — then nothing is written to stdout — and 2 for bad usage.

import { readFile } from 'node:fs/promises';
import { injectYaml, InjectRefused } from './yaml.js';
import { IMAGE_REF, defaultImage } from './version.js';

export const INJECT_USAGE = '  podmeta inject [-f FILE|-] [--all] [--image IMAGE]   add podmeta to the pod templates in Kubernetes YAML';

const HELP = `usage: podmeta inject [-f FILE|-] [--all] [--image IMAGE]
  Reads Kubernetes YAML (one or many documents; Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob
  and List are looked into, everything else passes through unchanged) and writes it to stdout with podmeta
  injected into every pod template labelled podmeta.io/inject: "true". Running it twice changes nothing.
  -f, --filename FILE   the input file (default, or "-": stdin)
  --all                 inject into every pod template, except those labelled podmeta.io/inject: "false"
  --image IMAGE         the podmeta image to inject (default ${defaultImage()})
  example: podmeta inject -f deploy.yaml | kubectl apply -f -`;

interface Io {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  stdin: () => Promise<string>;
}

const processIo: Io = {
  stdout: (s) => void process.stdout.write(s),
  stderr: (s) => void process.stderr.write(s),
  stdin: async () => {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
};

type Parsed = { file: string; all: boolean; image: string } | { help: true } | { error: string };

function parseArgs(args: readonly string[]): Parsed {
  let file = '-';
  let all = false;
  let image = defaultImage();
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = (): string | undefined => inline ?? args[++i];
    if (flag === '-h' || flag === '--help') return { help: true };
    else if (flag === '--all') all = true;
    else if (flag === '-f' || flag === '--filename') {
      const v = value();
      if (!v) return { error: `${flag} needs a file name (or - for stdin)` };
      file = v;
    } else if (flag === '--image') {
      const v = value();
      if (!v || !IMAGE_REF.test(v)) return { error: `--image needs an image reference such as registry.example.com/podmeta:0.2.0 (got ${JSON.stringify(v ?? '')})` };
      image = v;
    } else return { error: `unknown argument ${JSON.stringify(a)}` };
  }
  return { file, all, image };
}

/** Runs the command; returns the exit code. */
export async function cmdInject(args: readonly string[], io: Io = processIo): Promise<number> {
  const parsed = parseArgs(args);
  if ('help' in parsed) {
    io.stdout(HELP + '\n');
    return 0;
  }
  if ('error' in parsed) {
    io.stderr(`podmeta inject: ${parsed.error}\n${HELP}\n`);
    return 2;
  }
  let text: string;
  try {
    text = parsed.file === '-' ? await io.stdin() : await readFile(parsed.file, 'utf8');
  } catch (err) {
    io.stderr(`podmeta inject: cannot read ${parsed.file}: ${(err as Error).message}\n`);
    return 1;
  }
  try {
    const { text: out, reports } = injectYaml(text, { image: parsed.image, all: parsed.all });
    for (const { what, result } of reports) {
      const note = result.status === 'skipped' ? `skipped (${result.reason})` : result.status;
      io.stderr(`${what} ${note}\n`);
      for (const w of result.warnings) io.stderr(`  warning: ${w}\n`);
    }
    io.stdout(out);
    return 0;
  } catch (err) {
    const where = parsed.file === '-' ? 'stdin' : parsed.file;
    io.stderr(`podmeta inject: ${err instanceof InjectRefused ? '' : `${where}: `}${(err as Error).message}\n`);
    return 1;
  }
}
