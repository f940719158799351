/**
 * Placeholder for the double-vote scenario (a vote granted twice in one term);
 * the double-vote helper replaces this file.
 */
import type { Scenario } from './context.ts';

/** Not built yet: reports that it did not reach its state. */
export const doubleVote: Scenario = async () => ({ reached: false, detail: 'not implemented yet' });
