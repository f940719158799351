/**
 * What every command-line program of the project shares. Exit code 1 means "not linearizable" in chaos and check, so
 * a usage error or a crash must never end with it: both exit 3 ("the run itself broke / could not run").
 */

/** Exit code of a usage error or an internal error. */
export const EXIT_BROKEN = 3;

/**
 * A yargs `.fail()` handler: prints the message and the hint to use `--help`, and exits 3. (yargs' own default exits
 * 1, which would read as a verdict.)
 */
export function failUsage(scriptName: string): (message: string | undefined, error: Error | undefined) => never {
  return (message, error) => {
    process.stderr.write(`${scriptName}: ${message ?? error?.message ?? 'invalid arguments'}\n`);
    process.stderr.write(`run "${scriptName} --help" for the options\n`);
    process.exit(EXIT_BROKEN);
  };
}

/** An error that escapes the program's own handling is printed and ends the process with exit 3. */
export function exitBrokenOnCrash(scriptName: string): void {
  const crash = (error: unknown): void => {
    process.stderr.write(
      `${scriptName}: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(EXIT_BROKEN);
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
}
