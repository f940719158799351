/**
 * The scripted scenarios by nemesis name (`--nemesis figure8`, `--nemesis
 * double-vote`): each builds one dangerous state on purpose (see
 * harness/scenarios/context.ts and harness/PROVE.md).
 */
import type { Scenario } from './context.ts';
import { doubleVote } from './double-vote.ts';
import { figure8 } from './figure8.ts';

export type { Scenario, ScenarioContext, ScenarioOutcome } from './context.ts';

/** Every scenario, keyed by its nemesis name. */
export const scenarios = { figure8, 'double-vote': doubleVote } as const satisfies Record<string, Scenario>;

/** A scenario's nemesis name. */
export type ScenarioName = keyof typeof scenarios;
