/** The pure Raft core: see README.md in this folder and types.ts for the contract. */
export { RawNode } from './raw-node.ts';
export type * from './types.ts';
