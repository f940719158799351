/**
 * The network control of a system in hosts mode (harness/hosts/): a composite of two layers. Cuts (partitions, the
 * scenarios' cuts) are nftables rules in the members' namespaces, so they need nothing from the system; latency,
 * blackhole, bandwidth and client holds are Toxiproxy toxics on the per-link proxies that dnat rules send each
 * member's peer traffic through (and on the client proxies).
 */
import type { Hosts } from '../hosts/hosts.ts';
import type { FaultLayer, NetworkControl, NetworkFault } from '../nemesis/controls.ts';
import type { Link } from '../nemesis/plan.ts';

/** Which layer applies `fault` in hosts mode. */
export function hostsFaultLayer(fault: NetworkFault): FaultLayer {
  return fault === 'cut' ? 'kernel' : 'proxy';
}

/** Kernel cuts plus proxy toxics. */
export class HostsNetwork implements NetworkControl {
  constructor(
    private readonly hosts: Hosts,
    /** The proxies' control; its peer links exist only when the system routes peers through proxies. */
    private readonly proxies: NetworkControl | undefined,
    /** Whether member-to-member traffic goes through per-link proxies (dnat). */
    private readonly peerProxies: boolean,
  ) {}

  async cut(links: readonly Link[]): Promise<void> {
    for (const [from, to] of links) await this.hosts.cut(from, to);
  }

  async heal(links: readonly Link[]): Promise<void> {
    for (const [from, to] of links) await this.hosts.heal(from, to);
  }

  latency(links: readonly Link[], delayMs: number, jitterMs: number): Promise<void> {
    return this.peerLinks('latency').latency(links, delayMs, jitterMs);
  }

  removeLatency(links: readonly Link[]): Promise<void> {
    return this.peerLinks('latency').removeLatency(links);
  }

  blackhole(links: readonly Link[]): Promise<void> {
    return this.peerLinks('blackhole').blackhole(links);
  }

  removeBlackhole(links: readonly Link[]): Promise<void> {
    return this.peerLinks('blackhole').removeBlackhole(links);
  }

  bandwidth(links: readonly Link[], rateKBps: number): Promise<void> {
    return this.peerLinks('bandwidth').bandwidth(links, rateKBps);
  }

  removeBandwidth(links: readonly Link[]): Promise<void> {
    return this.peerLinks('bandwidth').removeBandwidth(links);
  }

  holdClientRequests(ids?: readonly string[]): Promise<void> {
    return this.clientLinks().holdClientRequests(ids);
  }

  releaseClientRequests(ids?: readonly string[]): Promise<void> {
    return this.clientLinks().releaseClientRequests(ids);
  }

  /** Every kernel cut removed, then every proxy healed. */
  async healAll(): Promise<void> {
    for (const link of this.hosts.cuts) {
      const [from = '', to = ''] = link.split('->');
      await this.hosts.heal(from, to);
    }
    await this.proxies?.healAll();
  }

  private clientLinks(): NetworkControl {
    if (this.proxies === undefined) throw new Error('client holds need the client proxies (proxied mode)');
    return this.proxies;
  }

  private peerLinks(fault: NetworkFault): NetworkControl {
    if (this.proxies === undefined || !this.peerProxies) {
      throw new Error(`the ${fault} fault needs per-link proxies, and this hosts-mode run routes peers directly`);
    }
    return this.proxies;
  }
}
