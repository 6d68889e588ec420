// Look up TypeScript types at test time (the compiler API on a virtual file) to check plain data against them:
// "does this object use only fields the type declares?" — what the API server's strict field validation does
// for manifests, and what keeps docs/openapi.yaml in step with src/document.ts.
import path from 'node:path';
import ts from 'typescript';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

export interface TypeImport {
  /** module specifier, resolved from the repository root (e.g. 'kubernetes-models/v1/Pod', './src/document.js') */
  from: string;
  /** exported type name */
  name: string;
}

export interface TypeShapes {
  readonly checker: ts.TypeChecker;
  /** the type imported under `alias` */
  type(alias: string): ts.Type;
  /** every path in `value` whose key the type does not declare (index signatures accept any key) */
  unknownFields(value: unknown, alias: string): string[];
  /** declared properties of an object type (after removing undefined/null), with their types */
  properties(type: ts.Type): Map<string, { type: ts.Type; optional: boolean }>;
  /** the object-like member of a type, after removing undefined/null; undefined for primitives */
  objectPart(type: ts.Type): ts.Type | undefined;
}

/** Build a program over one virtual file importing the given types. Takes ~1 s: create once per test file. */
export function createTypeShapes(imports: Readonly<Record<string, TypeImport>>): TypeShapes {
  const virtual = path.join(ROOT, '__type_shapes__.ts'); // never written to disk
  const source = Object.entries(imports)
    .map(([alias, imp]) => `import type { ${imp.name} as ${alias} } from '${imp.from}';\nexport type { ${alias} };`)
    .join('\n');
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    skipLibCheck: true,
    noEmit: true,
    types: [],
    lib: ['lib.es2022.d.ts'],
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (file, lang, ...rest) =>
    file === virtual ? ts.createSourceFile(file, source, lang) : getSourceFile.call(host, file, lang, ...rest);
  host.fileExists = (file) => file === virtual || fileExists.call(host, file);
  host.readFile = (file) => (file === virtual ? source : readFile.call(host, file));
  const program = ts.createProgram([virtual], options, host);
  const checker = program.getTypeChecker();
  const sf = program.getSourceFile(virtual);
  if (!sf) throw new Error('virtual source file missing');
  const problems = ts
    .getPreEmitDiagnostics(program, sf)
    .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  if (problems.length > 0) throw new Error(`type imports do not resolve:\n${problems.join('\n')}`);
  const moduleSymbol = checker.getSymbolAtLocation(sf);
  if (!moduleSymbol) throw new Error('virtual module has no symbol');
  const exported = new Map(checker.getExportsOfModule(moduleSymbol).map((s) => [s.getName(), s]));

  function type(alias: string): ts.Type {
    const sym = exported.get(alias);
    if (!sym) throw new Error(`no type imported as ${alias}`);
    const target = sym.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(sym) : sym;
    return checker.getDeclaredTypeOfSymbol(target);
  }

  function objectPart(t: ts.Type): ts.Type | undefined {
    const nn = checker.getNonNullableType(t);
    const members = nn.isUnion() ? nn.types : [nn];
    const objects = members.filter((m) => (m.flags & ts.TypeFlags.Object) !== 0);
    return objects.length === 1 ? objects[0] : undefined;
  }

  function properties(t: ts.Type): Map<string, { type: ts.Type; optional: boolean }> {
    const out = new Map<string, { type: ts.Type; optional: boolean }>();
    for (const p of checker.getPropertiesOfType(t)) {
      out.set(p.getName(), {
        type: checker.getTypeOfSymbol(p),
        optional: (p.flags & ts.SymbolFlags.Optional) !== 0,
      });
    }
    return out;
  }

  function walk(value: unknown, t: ts.Type, at: string, out: string[]): void {
    if (value === null || typeof value !== 'object') return;
    const obj = objectPart(t);
    if (!obj) return; // a primitive type given an object: schema validation reports that
    if (Array.isArray(value)) {
      if (!checker.isArrayType(obj)) return;
      const elem = checker.getTypeArguments(obj as ts.TypeReference)[0];
      if (elem) value.forEach((v, i) => walk(v, elem, `${at}[${i}]`, out));
      return;
    }
    const index = obj.getStringIndexType();
    for (const [key, v] of Object.entries(value)) {
      const prop = obj.getProperty(key);
      const where = at === '' ? key : `${at}.${key}`;
      if (prop) walk(v, checker.getTypeOfSymbol(prop), where, out);
      else if (index) walk(v, index, where, out);
      else out.push(`${where}: unknown field`);
    }
  }

  return {
    checker,
    type,
    properties,
    objectPart,
    unknownFields(value, alias) {
      const out: string[] = [];
      walk(value, type(alias), '', out);
      return out;
    },
  };
}
