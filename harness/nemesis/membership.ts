/**
 * Membership changes as the nemesis makes them (thesis §4.1, single-server changes): one request at a time to the
 * leader, retried until it is known to have committed or a deadline passes, with the harness's view of the members
 * following each change. The node refuses a change while another is pending and until its leader has committed an
 * entry of its own term (409); a request whose answer was lost (timeout, reset) may still take effect, so what counts
 * is the configuration the leader reports afterwards, never the answer alone.
 */
import { sleep } from '../../lib/time.ts';
import type { MemberChangeAnswer, MembershipControl, MembersView, ProcessControl } from './controls.ts';

/** How one change ended: `ok` once the leader reports it committed; the configuration seen last, if any. */
export interface ChangeResult {
  ok: boolean;
  detail: string;
  view?: MembersView;
}

/** Bound of one request; a slower answer counts as unknown and the request is repeated. */
const REQUEST_TIMEOUT_MS = 5_000;
/** How long a new member may catch up (a learner, thesis §4.2.1) before the request is repeated. */
const CATCH_UP_WAIT_MS = 5_000;
/** Pause between attempts (no leader yet, a change pending, a leader that has not committed in its term). */
const RETRY_PAUSE_MS = 200;

/** The voters of a configuration, sorted. */
export function votersOf(view: MembersView): string[] {
  return view.members
    .filter((m) => m.role === 'voter')
    .map((m) => m.id)
    .sort();
}

/** The learners of a configuration, sorted. */
export function learnersOf(view: MembersView): string[] {
  return view.members
    .filter((m) => m.role === 'learner')
    .map((m) => m.id)
    .sort();
}

/** A configuration in a few words, for history events and descriptions: `n1,n2,n3 (+learner n4, pending)`. */
export function describeView(view: MembersView): string {
  const learners = learnersOf(view);
  const extra = [
    ...(learners.length > 0 ? [`learner ${learners.join(',')}`] : []),
    ...(view.pending ? ['pending'] : []),
  ];
  return `${votersOf(view).join(',')}${extra.length > 0 ? ` (${extra.join(', ')})` : ''}`;
}

/** Reads an answer body as a configuration (the 200 body of the admin API is the `GET /members` body). */
function asView(body: unknown): MembersView | undefined {
  const view = body as MembersView | undefined;
  return view !== undefined && view !== null && Array.isArray(view.members) ? view : undefined;
}

function errorCode(answer: MemberChangeAnswer): string {
  if (typeof answer.status !== 'number') return `${answer.status}: ${answer.error}`;
  const body = answer.body as { error?: unknown; message?: unknown } | undefined;
  const code = typeof body?.error === 'string' ? body.error : `http-${answer.status}`;
  return typeof body?.message === 'string' ? `${answer.status} ${code}: ${body.message}` : `${answer.status} ${code}`;
}

/** Makes membership changes through a system's {@link MembershipControl}, one at a time. */
export class MembershipChanger {
  constructor(
    private readonly membership: MembershipControl,
    private readonly processes: Pick<ProcessControl, 'leader' | 'isRunning'>,
  ) {}

  /** Where a request goes: the member that says it leads in the highest term, else the first running member. */
  private async target(): Promise<string | undefined> {
    const leader = await this.processes.leader();
    if (leader !== undefined) return leader;
    return this.membership.members().find((id) => this.processes.isRunning(id));
  }

  /**
   * The configuration the leader reports (any member's when no leader answers), and the harness's view set to its
   * voters when it is committed. Undefined when nobody answered.
   */
  async refresh(timeoutMs = 1_000): Promise<MembersView | undefined> {
    const asked = await this.target();
    const view = asked === undefined ? undefined : await this.membership.configuration(asked, timeoutMs);
    if (view !== undefined && !view.pending) this.membership.setMembers(votersOf(view));
    return view;
  }

  /** Polls the leader's configuration until `done` holds for a committed one, or the deadline (at least once). */
  private async awaitView(done: (view: MembersView) => boolean, deadline: number): Promise<MembersView | undefined> {
    let last: MembersView | undefined;
    for (;;) {
      const view = await this.refresh();
      if (view !== undefined) {
        last = view;
        if (!view.pending && done(view)) return view;
      }
      if (performance.now() >= deadline) return last;
      await sleep(RETRY_PAUSE_MS);
    }
  }

  /** A change not known to be done by its deadline: what was asked, the last answer, and the configuration now. */
  private async gaveUp(change: string, withinMs: number, lastAnswer: string): Promise<ChangeResult> {
    const view = await this.refresh();
    return {
      ok: false,
      detail: `${change} not done in ${withinMs} ms (last answer ${lastAnswer})`,
      ...(view ? { view } : {}),
    };
  }

  /** Adds `id` and waits until it is a voter in a committed configuration, for at most `withinMs`. */
  async add(id: string, withinMs: number): Promise<ChangeResult> {
    const deadline = performance.now() + withinMs;
    const isVoter = (view: MembersView): boolean => votersOf(view).includes(id);
    let last = 'no attempt';
    /** Since when the leader reports `id` as a learner with no change in flight, i.e. not being promoted. */
    let stuckSince: number | undefined;
    while (performance.now() < deadline) {
      const via = await this.target();
      if (via === undefined) {
        last = 'no member answers';
        await sleep(RETRY_PAUSE_MS);
        continue;
      }
      const answer = await this.membership.requestAdd(via, id, REQUEST_TIMEOUT_MS);
      const view = typeof answer.status === 'number' ? asView(answer.body) : undefined;
      if (answer.status === 200 && view !== undefined && isVoter(view)) {
        if (!view.pending) this.membership.setMembers(votersOf(view));
        return { ok: true, detail: `added ${id} via ${via}: ${describeView(view)}`, view };
      }
      if (answer.status === 202 || answer.status === 200 || answer.status === 409 || answer.status === 'unknown') {
        // Catching up (202), or under way already: a duplicate, or an earlier attempt whose answer was lost. A 409
        // for another pending change or a leader new in its term is looked at once, then asked again.
        const waitMs = answer.status === 409 ? 0 : CATCH_UP_WAIT_MS;
        const settled = await this.awaitView(isVoter, Math.min(deadline, performance.now() + waitMs));
        if (settled !== undefined && !settled.pending && isVoter(settled)) {
          return { ok: true, detail: `added ${id} via ${via}: ${describeView(settled)}`, view: settled };
        }
        last = errorCode(answer);
        // A learner the leader does not promote (left over from a change a deposed leader started) is removed and
        // added again, as an operator would.
        const stuck = settled !== undefined && !settled.pending && learnersOf(settled).includes(id);
        stuckSince = stuck ? (stuckSince ?? performance.now()) : undefined;
        if (stuckSince !== undefined && performance.now() - stuckSince > CATCH_UP_WAIT_MS) {
          stuckSince = undefined;
          const removed = await this.remove(id, Math.max(0, deadline - performance.now()));
          last = `${last}; a learner not promoted, removed: ${removed.detail}`;
        }
        await sleep(RETRY_PAUSE_MS);
        continue;
      }
      last = errorCode(answer);
      if (typeof answer.status === 'number' && answer.status >= 400 && answer.status < 500) break;
      await sleep(RETRY_PAUSE_MS);
    }
    return this.gaveUp(`add ${id}`, withinMs, last);
  }

  /**
   * Removes `id` and waits until a committed configuration leaves it out, for at most `withinMs`. The harness stops
   * sending clients to it at once (a request it still gets may fail; that is recorded like any other failure).
   */
  async remove(id: string, withinMs: number): Promise<ChangeResult> {
    const deadline = performance.now() + withinMs;
    const isGone = (view: MembersView): boolean => !view.members.some((m) => m.id === id);
    this.membership.setMembers(this.membership.members().filter((m) => m !== id));
    let last = 'no attempt';
    while (performance.now() < deadline) {
      const via = await this.target();
      if (via === undefined) {
        last = 'no member answers';
        await sleep(RETRY_PAUSE_MS);
        continue;
      }
      const answer = await this.membership.requestRemove(via, id, REQUEST_TIMEOUT_MS);
      if (answer.status === 200 || answer.status === 404 || answer.status === 409 || answer.status === 'unknown') {
        // 200: committed; 404: not a member (an earlier attempt whose answer was lost may have removed it); 409:
        // another change pending; unknown: the answer was lost. The leader's committed configuration decides.
        const settled = await this.awaitView(isGone, performance.now());
        if (settled !== undefined && !settled.pending && isGone(settled)) {
          return { ok: true, detail: `removed ${id} via ${via}: ${describeView(settled)}`, view: settled };
        }
        last = errorCode(answer);
        await sleep(RETRY_PAUSE_MS);
        continue;
      }
      last = errorCode(answer);
      if (typeof answer.status === 'number' && answer.status >= 400 && answer.status < 500) break;
      await sleep(RETRY_PAUSE_MS);
    }
    return this.gaveUp(`remove ${id}`, withinMs, last);
  }
}
