/** Benchmark targets: one adapter interface, one implementation per system. */
import { connectEtcd } from './etcd.ts';
import { connectRaftlab } from './raftlab.ts';
import type { KvTarget, TargetKind, TargetOptions } from './target.ts';

export type * from './target.ts';
export { TARGET_KINDS } from './target.ts';

/** Connects the adapter of `kind` to a running cluster's client URLs. */
export function connectTarget(kind: TargetKind, memberUrls: readonly string[], options: TargetOptions = {}): KvTarget {
  switch (kind) {
    case 'raftlab':
    case 'raftlab-lazyfs':
      return connectRaftlab(memberUrls, options, kind);
    case 'etcd':
      return connectEtcd(memberUrls, options);
    default: {
      const never: never = kind;
      throw new Error(`unknown target ${String(never)}`);
    }
  }
}
