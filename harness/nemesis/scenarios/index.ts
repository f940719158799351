/**
 * The scripted scenarios by nemesis name (`--nemesis figure8`, `double-vote`, `config-overlap`): each builds one dangerous
 * state on purpose (see context.ts and harness/PROVE.md).
 */
import type { ScenarioName } from '../plan.ts';
import type { Scenario } from './context.ts';
import { configOverlap } from './config-overlap.ts';
import { doubleVote } from './double-vote.ts';
import { figure8 } from './figure8.ts';

export type { Scenario, ScenarioContext, ScenarioOutcome } from './context.ts';

/** Every scenario, keyed by its nemesis name. */
export const scenarios: Readonly<Record<ScenarioName, Scenario>> = {
  figure8,
  'double-vote': doubleVote,
  'config-overlap': configOverlap,
};
