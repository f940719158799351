// The dependency arrows of docs/architecture.md, checked by `npm run lint`.
// Test files and test helpers may reach across folders (a report test starts
// a chaos run); production code may not.
const notTest = '\\.test\\.ts$|/testdata/|/test/|/testing/|/testing\\.ts$';

/** A rule that forbids `from` (production code) to import anything of ours outside `allowed`. */
function onlyImports(name, from, allowed, comment) {
  return {
    name,
    comment,
    severity: 'error',
    from: { path: from, pathNot: notTest },
    to: { pathNot: allowed, dependencyTypes: ['local'] },
  };
}

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'Import cycles make the layers meaningless and the load order fragile.',
      severity: 'error',
      from: { pathNot: notTest },
      to: { circular: true, viaOnly: { pathNot: notTest } },
    },
    onlyImports(
      'lib-is-a-leaf',
      '^lib/',
      ['^lib/'],
      'lib/ is the leaf every layer may use; it imports nothing of ours.',
    ),
    onlyImports(
      'checker-stands-alone',
      '^checker/',
      ['^checker/'],
      'The checker is a standalone library: it imports nothing else from the repo.',
    ),
    onlyImports(
      'raft-core-stands-alone',
      '^node/raft/',
      ['^node/raft/'],
      'The Raft core is pure (no I/O) and imports nothing else from the repo.',
    ),
    onlyImports(
      'node-stands-alone',
      '^node/',
      ['^node/', '^lib/'],
      'The node is the system under test: it knows nothing of the harness that tests it.',
    ),
    onlyImports(
      'toxiproxy-stands-alone',
      '^toxiproxy/',
      ['^toxiproxy/', '^lib/'],
      'The embedded Toxiproxy server is a separate program the harness talks to over HTTP.',
    ),
    onlyImports(
      'lazyfs-stands-alone',
      '^lazyfs/',
      ['^lazyfs/', '^lib/'],
      'The lazy file system is a separate program (a FUSE server) the harness drives over loopback HTTP.',
    ),
    onlyImports(
      'workloads-below-harness',
      '^workloads/',
      ['^workloads/', '^checker/', '^lib/'],
      'Workloads produce histories for the checker; they know nothing of how a run is staged.',
    ),
    onlyImports(
      'reports-below-harness',
      '^reports/',
      ['^reports/', '^checker/', '^lib/'],
      'Reports render a finished run directory; they read checker result types only.',
    ),
    {
      name: 'nothing-imports-harness-from-below',
      comment: 'harness/ is the top layer: only its own modules and CLIs import it.',
      severity: 'error',
      from: { pathNot: ['^harness/', notTest] },
      to: { path: '^harness/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|store)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.mjs', '.js', '.json'] },
  },
};
