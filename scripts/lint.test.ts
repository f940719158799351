// `npm run lint` must fail on the violations it exists for: an import against the layer arrows, an import cycle, and
// an unused import. Each is planted in a throwaway tree that uses the repository's own configuration.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../lib/repo.ts';

function plant(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'raftlab-lint-'));
  writeFileSync(
    join(root, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', allowImportingTsExtensions: true },
    }),
  );
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

async function depcruise(root: string): Promise<{ exitCode: number | undefined; output: string }> {
  const bin = join(repoRoot, 'node_modules', '.bin', 'depcruise');
  const config = join(repoRoot, '.dependency-cruiser.cjs');
  const folders = readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name);
  const r = await execa(bin, ['--config', config, '--no-progress', ...folders], {
    cwd: root,
    reject: false,
    all: true,
  });
  return { exitCode: r.exitCode, output: r.all ?? '' };
}

test('the layer rules fail on a checker that imports the harness, and pass without it', async () => {
  const bad = plant({
    'checker/check.ts': "import { run } from '../harness/run.ts';\nexport const check = run;\n",
    'harness/run.ts': 'export const run = 1;\n',
  });
  const good = plant({
    'checker/check.ts': 'export const check = 1;\n',
    'harness/run.ts': "import { check } from '../checker/check.ts';\nexport const run = check;\n",
  });
  try {
    const failing = await depcruise(bad);
    assert.notEqual(failing.exitCode, 0, failing.output);
    assert.match(failing.output, /checker-stands-alone/);
    assert.match(failing.output, /nothing-imports-harness-from-below/);
    const passing = await depcruise(good);
    assert.equal(passing.exitCode, 0, passing.output);
  } finally {
    rmSync(bad, { recursive: true, force: true });
    rmSync(good, { recursive: true, force: true });
  }
});

test('the layer rules fail on an import cycle', async () => {
  const root = plant({
    'harness/a.ts': "import { b } from './b.ts';\nexport const a = b;\n",
    'harness/b.ts': "import { a } from './a.ts';\nexport const b = () => a;\n",
  });
  try {
    const result = await depcruise(root);
    assert.notEqual(result.exitCode, 0, result.output);
    assert.match(result.output, /no-cycles/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('Biome fails on an unused import', async () => {
  const root = plant({ 'lib/x.ts': "import { join } from 'node:path';\nexport const x = 1;\n" });
  try {
    const bin = join(repoRoot, 'node_modules', '.bin', 'biome');
    const r = await execa(bin, ['lint', '--config-path', repoRoot, '--vcs-enabled=false', 'lib/x.ts'], {
      cwd: root,
      reject: false,
      all: true,
    });
    assert.notEqual(r.exitCode, 0, r.all);
    assert.match(r.all ?? '', /noUnusedImports/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
