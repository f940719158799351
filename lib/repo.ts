/** Where the repository and its tools are, for modules that start the project's programs as child processes. */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Absolute path of the repository root (this file lives in `<root>/lib/`). */
export const repoRoot: string = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** `--import` value that loads tsx no matter the child's working directory. */
export const tsxImport: string = import.meta.resolve('tsx');
