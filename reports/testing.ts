/**
 * TEST ONLY: a small run directory with a real violation, made by hand and checked by the real checker: p0 writes 1
 * then 2 through n1 (the leader of term 2), then p1 reads 1 from n2, which still believes it leads term 1 while a
 * partition cuts it off. The checker's counterexample, explanation and causes are its own.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkSync } from '../checker/index.ts';
import type { ResultsFile, RunEvent, StatusSample } from './run-files.ts';

const ms = 1e6;

/** The history: background traffic on k1, the stale read on k0, a partition around it. */
export function staleReadEvents(): RunEvent[] {
  const events: RunEvent[] = [];
  const op = (process: number, f: string, key: string, value: unknown, t0: number, t1: number, node: string) => {
    events.push({ process, type: 'invoke', f, key, value: f === 'read' ? null : value, time: t0 * ms, node });
    events.push({
      process,
      type: 'ok',
      f,
      key,
      value,
      time: t1 * ms,
      node,
      servedBy: f === 'read' && node === 'n2' ? 'n2' : 'n1',
    });
  };
  // Steady traffic on another key so the charts have data.
  for (let t = 0; t < 2000; t += 50) op(3, 'write', 'k1', t, t, t + 8, 'n1');
  op(0, 'write', 'k0', 1, 100, 120, 'n1');
  events.push({
    process: 'nemesis',
    type: 'info',
    f: 'partition-start',
    value: ['n2'],
    time: 300 * ms,
    fault: 0,
    detail: 'partition n2 | n1 n3',
  });
  op(0, 'write', 'k0', 2, 500, 530, 'n1');
  op(1, 'read', 'k0', 1, 700, 720, 'n2');
  events.push({ process: 'nemesis', type: 'info', f: 'partition-stop', value: ['n2'], time: 1500 * ms, fault: 0 });
  return events.sort((a, b) => a.time - b.time);
}

/** Status samples: n1 leads term 2 from 250 ms; n2 keeps saying it leads term 1 while partitioned. */
export function staleReadStatus(): StatusSample[] {
  const samples: StatusSample[] = [];
  for (let t = 0; t < 2000; t += 250) {
    const n2Cut = t >= 300 && t < 1500;
    samples.push({
      time: t * ms,
      nodes: {
        n1: {
          role: t >= 250 ? 'leader' : 'follower',
          term: t >= 250 ? 2 : 1,
          leader: t >= 250 ? 'n1' : 'n2',
          commitIndex: t,
        },
        n2: {
          role: t < 250 || n2Cut ? 'leader' : 'follower',
          term: n2Cut || t < 250 ? 1 : 2,
          leader: 'n2',
          commitIndex: 3,
        },
        n3: t >= 1000 && t < 1250 ? null : { role: 'follower', term: t >= 250 ? 2 : 1, leader: 'n1', commitIndex: t },
      },
    });
  }
  return samples;
}

/** Writes the run directory (test.json, history.jsonl, status.jsonl, results.json with the real check). */
export function writeStaleReadRun(dir: string): ResultsFile {
  mkdirSync(dir, { recursive: true });
  const events = staleReadEvents();
  const check = checkSync(events, { model: 'raftlab-kv' });
  writeFileSync(
    join(dir, 'test.json'),
    JSON.stringify({
      name: 'stale-read-by-hand',
      seed: 7,
      startedAt: '2026-12-02T00:00:00Z',
      options: { nodes: 3, nemesis: ['partition'], time: 2 },
      command: 'npm run chaos -- --bug stale-read --seed 7',
      system: { name: 'raftlab', peerRouting: 'per-link' },
      cluster: { nodes: ['n1', 'n2', 'n3'], mode: 'proxied' },
    }),
  );
  writeFileSync(join(dir, 'history.jsonl'), `${events.map((e) => JSON.stringify(e)).join('\n')}\n`);
  writeFileSync(
    join(dir, 'status.jsonl'),
    `${staleReadStatus()
      .map((s) => JSON.stringify(s))
      .join('\n')}\n`,
  );
  const ops = events.filter((e) => e.type === 'invoke').length;
  const results: ResultsFile = {
    verdict: check.verdict === 'illegal' ? 'illegal' : check.verdict,
    exitCode: check.verdict === 'illegal' ? 1 : 0,
    system: { name: 'raftlab', peerRouting: 'per-link' },
    counts: { invoked: ops, ok: ops, fail: 0, info: 0, processes: 3 },
    check,
    durationMs: 2000,
  };
  writeFileSync(join(dir, 'results.json'), JSON.stringify(results));
  return results;
}
