// The layering of src/, checked by dependency-cruiser (`npm run layers`, and by
// test/layering.test.ts inside `npm test`). docs/ARCHITECTURE.md explains it.
//
// LAYERS lists src/ from the bottom up. A module may import modules of its own folder (or
// file) and of any LOWER layer; an import of a higher layer, or of another folder in the
// same layer, is an error. So are import cycles, between files and between folders (a
// folder with its subfolders counts as one), and a module of src/ that is in no layer
// (give a new folder its place here). Folders are
// matched by prefix, so new files and subfolders inside a folder take its place.
// Worker threads load their modules by URL (src/threads.ts `siblingModule`), not by import;
// each such module sits in the folder of the module that starts it.

/** Bottom to top. A name ending in `/` is a folder of src/, else a file of src/. */
const LAYERS = [
  ['errors.ts'],
  ['config.ts'],
  ['faults.ts', 'runs-dir.ts', 'shards.ts', 'threads.ts'],
  ['storage/', 'bundle/', 'catalog/'],
  ['experiment/'],
  ['fingerprint/'],
  ['runner/', 'read/'],
  ['export/', 'stats/', 'plot/', 'verify/', 'manage/'],
  ['cluster/'],
  ['sweep/'],
  ['ui/', 'watch/'],
  ['cli/'],
  ['index.ts'],
];

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const pathOf = (unit) => (unit.endsWith('/') ? `^src/${escape(unit)}` : `^src/${escape(unit)}$`);
const anyOf = (units) => `(${units.map(pathOf).join('|')})`;

const known = anyOf(LAYERS.flat());

const layerRules = LAYERS.flatMap((layer, i) =>
  layer.flatMap((unit) => {
    const peers = layer.filter((other) => other !== unit);
    const above = LAYERS.slice(i + 1).flat();
    const forbidden = [...peers, ...above];
    const allowed = LAYERS.slice(0, i).flat();
    if (forbidden.length === 0) return [];
    return [
      {
        name: `layer:${unit}`,
        severity: 'error',
        comment:
          `src/${unit} (layer ${i}) may import only ${allowed.length ? allowed.map((u) => `src/${u}`).join(', ') : 'node: and packages'}` +
          ' and itself: see .dependency-cruiser.cjs and docs/ARCHITECTURE.md',
        from: { path: pathOf(unit) },
        to: { path: anyOf(forbidden) },
      },
    ];
  }),
);

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycle',
      severity: 'error',
      comment: 'an import cycle between files: move what both need into a module below both',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'no-folder-cycle',
      severity: 'error',
      comment: 'an import cycle between folders: move what both need into a folder below both',
      scope: 'folder',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'in-a-layer',
      severity: 'error',
      comment: 'a module of src/ outside the layering: give its folder a place in LAYERS (.dependency-cruiser.cjs)',
      from: { path: '^src/', pathNot: known },
      to: {},
    },
    {
      name: 'to-a-layer',
      severity: 'error',
      comment: 'an import of a module of src/ outside the layering: give its folder a place in LAYERS',
      from: { path: '^src/' },
      to: { path: '^src/', pathNot: known },
    },
    {
      name: 'not-tests',
      severity: 'error',
      comment: 'the package must not import its tests, benchmarks or example experiments',
      from: { path: '^src/' },
      to: { path: '^(test|bench|experiments|examples)/' },
    },
    ...layerRules,
  ],
  options: {
    // `import type` counts: a type-only cycle is still a cycle for the reader.
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    // The dashboard's browser scripts are not modules of the package.
    exclude: { path: '^src/ui/assets/' },
  },
};
