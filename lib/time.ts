/** Waiting and naming things by time: the one sleep and the one run stamp of the project. */

/** Resolves after `ms` (at once for `ms <= 0`), or as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || signal?.aborted === true) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * `yyyymmddThhmmss` in UTC: the name of a run directory. UTC so that runs made on machines in different time zones
 * (a laptop and CI) sort together.
 */
export function runStamp(date = new Date()): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, '');
}
