/**
 * Which active fault put which effect on which link. Overlapping network faults can touch the same link (two
 * partitions that both cut n1->n2, two latencies on one link), and Toxiproxy holds one state per link: a proxy is
 * enabled or not, and carries one toxic of each type. So stopping a fault must not simply heal its links (the other
 * fault would silently end early), nor heal everything: it undoes only what no other active fault still needs.
 *
 * Per link and effect the ledger keeps the faults that hold it, in the order they started; the newest holder's
 * parameters are the ones in force (a latency started later replaces an earlier one on the same link, and when it
 * stops the earlier one's parameters come back).
 */
import type { Link } from './plan.ts';

/** One effect on a link, with its parameters. */
export type LinkEffect =
  | { effect: 'cut' }
  | { effect: 'blackhole' }
  | { effect: 'latency'; delayMs: number; jitterMs: number }
  | { effect: 'bandwidth'; rateKBps: number };

/** What to do on the network after a change of holders. */
export interface LinkActions {
  /** Effects to put in force (new, or parameters that now win), grouped by identical effect. */
  apply: { effect: LinkEffect; links: Link[] }[];
  /** Effects no active fault holds any more, by effect name. */
  clear: { effect: LinkEffect['effect']; links: Link[] }[];
}

interface Holder {
  fault: number;
  effect: LinkEffect;
}

export class NetworkLedger {
  /** Key `effect|from->to` -> holders in start order. */
  private readonly holders = new Map<string, Holder[]>();

  /** Fault `fault` puts `effect` on `links`: the links where it must be applied now. */
  add(fault: number, links: readonly Link[], effect: LinkEffect): LinkActions {
    const changed: Link[] = [];
    for (const link of links) {
      const key = keyOf(effect.effect, link);
      const list = this.holders.get(key) ?? [];
      this.holders.set(key, list);
      // A cut already in force needs nothing more; a toxic takes the newest parameters.
      if (list.length === 0 || effect.effect !== 'cut') changed.push(link);
      list.push({ fault, effect });
    }
    return { apply: changed.length > 0 ? [{ effect, links: changed }] : [], clear: [] };
  }

  /** Fault `fault` stops: clear what only it held, restore the parameters of the newest remaining holder. */
  remove(fault: number): LinkActions {
    const apply = new Map<string, { effect: LinkEffect; links: Link[] }>();
    const clear = new Map<LinkEffect['effect'], Link[]>();
    for (const [key, list] of this.holders) {
      const at = list.findIndex((h) => h.fault === fault);
      if (at < 0) continue;
      const wasInForce = at === list.length - 1;
      list.splice(at, 1);
      const link = linkOf(key);
      const newest = list[list.length - 1];
      if (newest === undefined) {
        this.holders.delete(key);
        const effect = key.slice(0, key.indexOf('|')) as LinkEffect['effect'];
        clear.set(effect, [...(clear.get(effect) ?? []), link]);
      } else if (wasInForce && newest.effect.effect !== 'cut') {
        const group = JSON.stringify(newest.effect);
        const entry = apply.get(group) ?? { effect: newest.effect, links: [] };
        entry.links.push(link);
        apply.set(group, entry);
      }
    }
    return { apply: [...apply.values()], clear: [...clear].map(([effect, links]) => ({ effect, links })) };
  }

  /** Links with at least one holder of `effect` (tests, and the progress of a run). */
  held(effect: LinkEffect['effect']): Link[] {
    return [...this.holders.keys()].filter((key) => key.startsWith(`${effect}|`)).map(linkOf);
  }

  /** Forget everything (after a heal of the whole network). */
  reset(): void {
    this.holders.clear();
  }
}

function keyOf(effect: LinkEffect['effect'], [from, to]: Link): string {
  return `${effect}|${from}->${to}`;
}

function linkOf(key: string): Link {
  const [from, to] = key.slice(key.indexOf('|') + 1).split('->');
  return [from as string, to as string];
}
