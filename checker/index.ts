// Public entry of the checker library. Everything another area may use is
// listed here; the rest of checker/ is internal.
export { check, checkSync } from './check.ts';
export { CheckerError, type CheckerErrorCode, HistoryParseError } from './errors.ts';
export { createModel, MODEL_NAMES, type ModelOptions } from './models.ts';
export { detectFormat, parseEdn, parseHistory, parseJsonl, readHistoryFile } from './parse.ts';
export type {
  CheckOptions,
  CheckResult,
  Counterexample,
  EventType,
  HistoryEvent,
  InitialStateCause,
  LinearizationStep,
  Model,
  ModelName,
  NullRead,
  OperationInfo,
  PartitionResult,
  UnknownReason,
  UnsearchedPartition,
  ValueFlow,
  Verdict,
} from './types.ts';
