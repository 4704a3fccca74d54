/**
 * Turns a module written in TypeScript or JavaScript (ESM or CommonJS, any extension, in a
 * package of any `type`) into ONE ES module file that Node imports with no loader: the
 * module and every local file it imports are bundled by esbuild; packages (node_modules)
 * stay imports, rewritten to absolute file URLs so the bundle can live anywhere. The main
 * thread bundles once; worker threads import the same file, so they start without
 * compiling anything.
 *
 * The same step tells what went in (`inputs`, `packages`): the code fingerprint is taken
 * from exactly the code that runs.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { isBuiltin } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { PartialMessage, Plugin, PluginBuild } from 'esbuild';
import { configOf } from '../config.ts';

/** A package the bundle imports from node_modules (or a package self-reference). */
export interface BundledPackage {
  readonly name: string;
  readonly version: string;
  /** The package's directory. */
  readonly dir: string;
}

/** A local source file that went into a bundle. */
export interface BundledFile {
  /** Absolute path. */
  readonly path: string;
  /** sha256 of the file's bytes. */
  readonly sha256: string;
  /**
   * sha256 of its code without comments and whitespace (esbuild's transform, minified
   * whitespace): equal for two versions that differ only in comments or layout.
   */
  readonly codeSha256: string;
}

/** One ES module file made from a module and the local files it imports. */
export interface Bundle {
  /** file: URL of the bundle; `import()` it. Content-addressed: a changed input is a new URL. */
  readonly url: string;
  /** Absolute paths of the local source files that went in, the entry first, then sorted. */
  readonly inputs: readonly string[];
  /** The packages it imports, sorted by name. */
  readonly packages: readonly BundledPackage[];
  /** Every local file that went in, as {@link inputs} orders them (JSON files included). */
  readonly files: readonly BundledFile[];
}

/** Thrown when esbuild cannot bundle: a syntax error, an import that resolves nowhere. */
export class BundleError extends Error {
  override readonly name = 'BundleError';
  constructor(
    message: string,
    /** The first error's file (absolute), when esbuild names one. */
    readonly file?: string,
    /** Whether it came from importing more than the light module has from 'mmrun'. */
    readonly lightMmrun = false,
  ) {
    super(message);
  }
}

/**
 * Where bundles are written: `$MMRUN_CACHE_DIR`, else `<tmpdir>/mmrun-<uid>/bundles`. A
 * bundle is a cache entry, rebuilt from the sources whenever it is missing.
 */
export function bundleCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const user = typeof process.getuid === 'function' ? process.getuid() : 'user';
  return configOf(env).cacheDir ?? path.join(os.tmpdir(), `mmrun-${user}`, 'bundles');
}

const LOADERS: Readonly<Record<string, 'ts' | 'js' | 'json'>> = {
  '.ts': 'ts',
  '.mts': 'ts',
  '.cts': 'ts',
  '.tsx': 'ts',
  '.js': 'js',
  '.mjs': 'js',
  '.cjs': 'js',
  '.jsx': 'js',
  '.json': 'json',
};

// A `require()` in the user's code (a .cts experiment, a CommonJS helper) must still work
// inside an ES module: give the bundle a real `require`.
const BANNER =
  "import { createRequire as __mmrunCreateRequire } from 'node:module';\nconst require = __mmrunCreateRequire(import.meta.url);";

/** The package name a bare specifier names: `a` of `a/b`, `@s/a` of `@s/a/b`. */
function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier);
}

/** The nearest package.json at or above `file` that has a name, with its directory. */
function owningPackage(file: string): { name: string; version: string; dir: string } | undefined {
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest)) {
      try {
        const json = JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: unknown; version?: unknown };
        if (typeof json.name === 'string') {
          return { name: json.name, version: typeof json.version === 'string' ? json.version : '0.0.0', dir };
        }
      } catch {
        // An unreadable manifest names no package; look further up.
      }
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

/**
 * Bundles `entry` into the cache and returns its URL and what went in.
 * @throws BundleError when esbuild reports an error (the message is esbuild's first).
 */
export async function bundleModule(entry: string, cacheDir = bundleCacheDir()): Promise<Bundle> {
  try {
    return await build(entry, cacheDir, true);
  } catch (caught) {
    // The experiment imports more from 'mmrun' than defineExperiment: the whole library.
    if (caught instanceof BundleError && caught.lightMmrun) return await build(entry, cacheDir, false);
    throw caught;
  }
}

/**
 * mmrun's own package root and the module an experiment gets for `import … from 'mmrun'`
 * when it imports only what that module has (defineExperiment; types vanish): the whole
 * library's entry would load every command's code (~0.2 s) into every worker thread.
 */
const OWN_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const OWN_NAME = 'mmrun';
const LIGHT_MMRUN = path.join(OWN_ROOT, 'dist', 'experiment', 'define.js');

async function build(entry: string, cacheDir: string, light: boolean): Promise<Bundle> {
  const esbuild = await import('esbuild');
  const abs = path.resolve(entry);
  const packages = new Map<string, BundledPackage>();
  const digests = new Map<string, BundledFile>();
  const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
  const RESOLVING = Symbol('mmrun-resolving');

  const plugin: Plugin = {
    name: 'mmrun',
    setup(build: PluginBuild) {
      // Bare specifiers: a package (from node_modules, or the project's own name) stays an
      // import of its absolute file; a tsconfig `paths` alias that lands on a local file is
      // bundled like any local file.
      build.onResolve({ filter: /^[^./]|^\.[^./]|^\.\.[^/]/ }, async (args) => {
        if (args.pluginData === RESOLVING || isBuiltin(args.path) || path.isAbsolute(args.path)) return undefined;
        const result = await build.resolve(args.path, {
          kind: args.kind,
          resolveDir: args.resolveDir,
          importer: args.importer,
          pluginData: RESOLVING,
        });
        if (result.errors.length > 0 || result.external || !result.path) return undefined;
        const owner = owningPackage(result.path);
        const name = packageName(args.path);
        if (light && args.path === OWN_NAME && owner?.dir === OWN_ROOT && fs.existsSync(LIGHT_MMRUN)) {
          packages.set(owner.name, { name: owner.name, version: owner.version, dir: owner.dir });
          // Bundled, not external: esbuild then checks the names imported from it.
          return { path: LIGHT_MMRUN };
        }
        if (args.path === OWN_NAME && owner?.dir === OWN_ROOT) {
          // The running mmrun's compiled entry (in its own repo, tsconfig paths point at src/).
          packages.set(owner.name, { name: owner.name, version: owner.version, dir: owner.dir });
          return { path: pathToFileURL(path.join(OWN_ROOT, 'dist', 'index.js')).href, external: true };
        }
        const isPackage = result.path.split(path.sep).includes('node_modules') || owner?.name === name;
        if (!isPackage) return { path: result.path };
        if (owner) packages.set(owner.name, { name: owner.name, version: owner.version, dir: owner.dir });
        // require() takes a path; import takes a URL.
        const target = args.kind === 'require-call' ? result.path : pathToFileURL(result.path).href;
        return { path: target, external: true };
      });
      // Every local file keeps its own import.meta.url, __dirname and __filename: the bundle
      // lives elsewhere, but a module that reads a file beside itself must still find it.
      build.onLoad({ filter: /\.[cm]?[jt]sx?$/ }, async (args) => {
        if (args.path === LIGHT_MMRUN || args.path.split(path.sep).includes('node_modules')) return undefined;
        const loader = LOADERS[path.extname(args.path)] ?? 'js';
        const source = await fs.promises.readFile(args.path, 'utf8');
        const url = pathToFileURL(args.path).href;
        const dir = path.dirname(args.path);
        const define: Record<string, string> = {
          'import.meta.url': JSON.stringify(url),
          'import.meta.filename': JSON.stringify(args.path),
          'import.meta.dirname': JSON.stringify(dir),
          __filename: JSON.stringify(args.path),
          __dirname: JSON.stringify(dir),
        };
        let out: Awaited<ReturnType<typeof esbuild.transform>>;
        try {
          out = await esbuild.transform(source, {
            loader: loader === 'json' ? 'js' : loader,
            define,
            sourcefile: args.path,
            sourcemap: 'inline',
            sourcesContent: false,
            target: 'node20',
          });
        } catch (caught) {
          // A syntax error: reported by the build with its file and line.
          const failure = caught as { errors?: PartialMessage[] };
          if (failure.errors) return { errors: failure.errors };
          throw caught;
        }
        // What the fingerprint compares: the bytes, and the code without comments.
        const bare = await esbuild.transform(source, {
          loader: loader === 'json' ? 'js' : loader,
          minifyWhitespace: true,
          legalComments: 'none',
          target: 'node20',
        });
        digests.set(args.path, { path: args.path, sha256: sha256(source), codeSha256: sha256(bare.code) });
        return { contents: out.code, loader: 'js', resolveDir: dir };
      });
    },
  };

  let result: Awaited<ReturnType<typeof esbuild.build>>;
  try {
    result = await esbuild.build({
      entryPoints: [abs],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      sourcemap: 'inline',
      sourcesContent: false,
      metafile: true,
      logLevel: 'silent',
      banner: { js: BANNER },
      absWorkingDir: path.dirname(abs),
      // Where the bundle is written, so that its source map's paths resolve from there.
      outdir: cacheDir,
      plugins: [plugin],
    });
  } catch (caught) {
    const failure = caught as { errors?: { text: string; location?: { file: string; line: number } | null }[] };
    const first = failure.errors?.[0];
    if (!first) throw caught;
    const where = first.location ? `${first.location.file}:${first.location.line}: ` : '';
    const file = first.location ? path.resolve(path.dirname(abs), first.location.file) : undefined;
    const lightMmrun = light && (failure.errors ?? []).some((e) => e.text.includes('No matching export'));
    throw new BundleError(`${where}${first.text}`, file, lightMmrun);
  }
  const code = result.outputFiles?.[0]?.text ?? '';
  const inputs = Object.keys(result.metafile?.inputs ?? {})
    .map((p) => path.resolve(path.dirname(abs), p))
    .filter((p) => p !== abs && p !== LIGHT_MMRUN && !p.split(path.sep).includes('node_modules'));
  const hash = sha256(code).slice(0, 32);
  const file = path.join(cacheDir, `${path.basename(abs).replace(/[^\w.-]/g, '_')}-${hash}.mjs`);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(cacheDir, { recursive: true });
    // Written whole, then renamed: a concurrent importer never sees half a file.
    const temp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    fs.writeFileSync(temp, code);
    fs.renameSync(temp, file);
  }
  const ordered = [abs, ...inputs.sort()];
  const files = ordered.map((p) => {
    const known = digests.get(p);
    if (known) return known;
    // A JSON (or other data) file esbuild loaded itself: its bytes are its code.
    const hash = sha256(fs.readFileSync(p, 'utf8'));
    return { path: p, sha256: hash, codeSha256: hash };
  });
  return {
    url: pathToFileURL(file).href,
    inputs: ordered,
    files,
    packages: [...packages.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  };
}
