/**
 * Disk and clock faults of members that run as local processes: each member's data directory on a lazy file system
 * of its own (lazyfs/, one process per member), and each member's clock under libfaketime.
 *
 * Clocks: a member is started with libfaketime preloaded and a timestamp file of its own, re-read at most once a
 * second (FAKETIME_CACHE_DURATION=1; re-reading on every call costs about 25 us per clock read, measured). libfaketime
 * shifts CLOCK_REALTIME and CLOCK_MONOTONIC alike, so a member's timers (libuv's monotonic clock) follow its clock:
 * a backward skew stalls them for that long, a slow drift slows its ticks. The file says `<offset s> x<rate>`, which
 * libfaketime applies from the process's own start (faked = start + offset + rate * (now - start)); changing the rate
 * therefore needs the offset recomputed so that the clock continues from where it is instead of jumping.
 */
import { existsSync, mkdirSync, rmdirSync, writeFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import type { Reaper } from '../../lib/process.ts';
import type { ClockControl, DiskControl } from '../nemesis/controls.ts';
import { clockNemesisKinds, diskNemesisKinds, type NemesisKind } from '../nemesis/plan.ts';
import {
  cleanupLazyFsLeftovers,
  type LazyFs,
  type LazyFsDrop,
  lazyFsUnavailableReason,
  startLazyFs,
} from './lazyfs-process.ts';

/** Debian's libfaketime (package `faketime`, which pulls in `libfaketime`). */
const LIBFAKETIME_PATHS = [
  '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/faketime/libfaketime.so.1',
];

/** What to install for the clock faults. */
export const FAKETIME_INSTALL_HINT = 'apt-get install -y faketime';

function libfaketime(): string | undefined {
  return LIBFAKETIME_PATHS.find((path) => existsSync(path));
}

/** Why the clock faults cannot run here, or undefined when they can. */
export function fakeClockUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return 'the clock faults need Linux (libfaketime through LD_PRELOAD)';
  if (libfaketime() === undefined) return `the clock faults need libfaketime: ${FAKETIME_INSTALL_HINT}`;
  return undefined;
}

/** Why a disk or clock nemesis kind cannot run here (undefined for other kinds, and when it can). */
export function memberFaultUnavailableReason(kind: NemesisKind): string | undefined {
  if ((diskNemesisKinds as readonly string[]).includes(kind)) return lazyFsUnavailableReason();
  if ((clockNemesisKinds as readonly string[]).includes(kind)) return fakeClockUnavailableReason();
  return undefined;
}

/** Every member's data on a lazy file system of its own: `<nodes>/<id>` is the real data, `<nodes>/<id>.lazy` the mount. */
export class LazyDisks implements DiskControl {
  private readonly disks = new Map<string, LazyFs>();
  private readonly logs = new Map<string, WriteStream>();

  constructor(
    private readonly nodesDir: string,
    private readonly reaper: Reaper | undefined,
  ) {}

  /** Where member `id` must keep its data (the mount). */
  mountOf(id: string): string {
    return join(this.nodesDir, `${id}.lazy`);
  }

  /** Removes mounts of dead runs, then mounts one lazy file system per member over its data directory. */
  async start(members: readonly { id: string; dataDir: string; log: WriteStream }[]): Promise<void> {
    await cleanupLazyFsLeftovers();
    await Promise.all(
      members.map(async ({ id, dataDir, log }) => {
        const disk = await startLazyFs({
          backing: dataDir,
          mount: this.mountOf(id),
          log,
          name: `lazyfs of ${id}`,
          ...(this.reaper !== undefined ? { reaper: this.reaper } : {}),
        });
        this.disks.set(id, disk);
        this.logs.set(id, log);
      }),
    );
  }

  private disk(id: string): LazyFs {
    const disk = this.disks.get(id);
    if (disk === undefined) throw new Error(`member ${id} has no lazy file system`);
    return disk;
  }

  /** Notes in the member's log what a disk fault dropped (the evidence of what the node had not synced). */
  private note(id: string, fault: string, drop: LazyFsDrop): void {
    const kept = drop.kept !== undefined ? `, ${drop.kept} bytes of torn writes kept` : '';
    this.logs
      .get(id)
      ?.write(
        `# ${new Date().toISOString()} ${fault} ${id}: dropped ${drop.bytes} unsynced bytes in ${drop.files} files${kept}\n`,
      );
  }

  async loseUnsynced(id: string): Promise<void> {
    this.note(id, 'lose-unsynced', await this.disk(id).loseUnsynced());
  }

  async tornWrite(id: string, fraction: number): Promise<void> {
    this.note(id, 'torn-write', await this.disk(id).tornWrite(fraction));
  }

  async failNextFsync(id: string): Promise<void> {
    await this.disk(id).failNextFsync();
  }

  async clearDiskFaults(id: string): Promise<void> {
    await this.disk(id).clearFaults();
  }

  /** Pids of the file system processes. */
  pids(): number[] {
    return [...this.disks.values()].map((disk) => disk.pid);
  }

  /** Writes every cache back, unmounts, stops the processes and removes the empty mount points (members stopped first). */
  async stop(): Promise<void> {
    await Promise.all([...this.disks.values()].map((disk) => disk.stop()));
    for (const id of this.disks.keys()) {
      try {
        rmdirSync(this.mountOf(id));
      } catch {
        // Still mounted (the unmount failed) or not empty: left for the next run's leftover sweep to report.
      }
    }
    this.disks.clear();
  }
}

/** One member's clock: real time plus `offsetMs` at real time `sinceMs`, running at `rate` since then. */
interface ClockState {
  offsetMs: number;
  sinceMs: number;
  rate: number;
  /** Real time when the member's current process started (libfaketime's reference point). */
  processStartMs: number;
}

/** The members' clocks, through one libfaketime timestamp file per member. */
export class FakeClocks implements ClockControl {
  private readonly clocks = new Map<string, ClockState>();
  private readonly library: string;

  constructor(private readonly dir: string) {
    const library = libfaketime();
    if (library === undefined) throw new Error(`libfaketime is not installed: ${FAKETIME_INSTALL_HINT}`);
    this.library = library;
    mkdirSync(dir, { recursive: true });
  }

  private fileOf(id: string): string {
    return join(this.dir, `${id}.faketime`);
  }

  /** The environment member `id` is started with; call right before each start (the file is rewritten for it). */
  environment(id: string): Record<string, string> {
    const now = Date.now();
    const state = this.clocks.get(id) ?? { offsetMs: 0, sinceMs: now, rate: 1, processStartMs: now };
    // The machine's clock does not change when a process restarts: carry the offset over to the new process.
    this.clocks.set(id, { ...this.rebased(state, now), processStartMs: now });
    this.write(id);
    return {
      LD_PRELOAD: this.library,
      FAKETIME_TIMESTAMP_FILE: this.fileOf(id),
      FAKETIME_CACHE_DURATION: '1',
    };
  }

  /** The same clock described from real time `now` on. */
  private rebased(state: ClockState, now: number): ClockState {
    return { ...state, offsetMs: state.offsetMs + (state.rate - 1) * (now - state.sinceMs), sinceMs: now };
  }

  private state(id: string): ClockState {
    const state = this.clocks.get(id);
    if (state === undefined) throw new Error(`member ${id} was not started under libfaketime`);
    return state;
  }

  /**
   * libfaketime's form: faked(t) = t + O + (rate - 1) * (t - processStart); ours: faked(t) = t + offset + (rate - 1) *
   * (t - since); so O = offset + (rate - 1) * (processStart - since).
   */
  private write(id: string): void {
    const s = this.state(id);
    const offsetS = (s.offsetMs + (s.rate - 1) * (s.processStartMs - s.sinceMs)) / 1000;
    writeFileSync(this.fileOf(id), `${offsetS >= 0 ? '+' : ''}${offsetS.toFixed(3)} x${s.rate.toFixed(6)}\n`);
  }

  async skew(id: string, deltaMs: number): Promise<void> {
    const now = Date.now();
    const state = this.rebased(this.state(id), now);
    this.clocks.set(id, { ...state, offsetMs: state.offsetMs + deltaMs });
    this.write(id);
  }

  async drift(id: string, rate: number): Promise<void> {
    if (!(rate > 0)) throw new Error(`a clock rate must be positive, got ${rate}`);
    this.clocks.set(id, { ...this.rebased(this.state(id), Date.now()), rate });
    this.write(id);
  }

  async resetClock(id: string): Promise<void> {
    const state = this.state(id);
    this.clocks.set(id, { ...state, offsetMs: 0, sinceMs: Date.now(), rate: 1 });
    this.write(id);
  }
}
