/**
 * `@dmabuf-ref/contracts`: contract test suites a driver author runs on a
 * new mapping type, exporter or importer (vitest suites over the
 * dmabuf-ref model), and the bug zoo (`@dmabuf-ref/contracts/zoo`) of
 * wrong drivers they must catch.
 *
 * @packageDocumentation
 */
export { exporterContract, importerContract, mappingTypeContract } from "./suites.js";
export { CONTRACT_CASES, checkExporter, checkImporter, checkMappingType } from "./suites.js";
export type { CaseInfo } from "./suites.js";
export { DEFAULT_SEED } from "./harness.js";
export type {
  ContractOptions,
  ConvertedRun,
  ConverterFixture,
  InvalidFixtures,
  PhysRange,
  ExporterUnderTest,
  ImporterUnderTest,
  MappingTypeFixtures,
  Skips,
} from "./harness.js";
export { ContractFailure, failureText } from "./case.js";
export type { CaseResult, CaseVerdict, ContractCase, Skipped } from "./case.js";
export {
  CONTRACT_EXPORTER,
  CONTRACT_IMPORTER,
  attachmentsOf,
  contractExporter,
  contractImporter,
  dynamicImporter,
  releaseCall,
  submitCall,
} from "./partners.js";
export type { DynamicImporterChanges } from "./partners.js";
// The reference importer's command submission and teardown live in core;
// re-exported here for suites' users who build wrong importers.
export { CORRECT_SUBMIT, releaseOp, submitOp } from "@dmabuf-ref/core";
export type { SubmitPolicy } from "@dmabuf-ref/core";
export { Session, mustStep, mustSteps } from "./session.js";
export {
  ContractSpace,
  continuationFailed,
  eventsOf,
  opText,
  runText,
  search,
} from "./explorer.js";
export type {
  BrokenRule,
  Reachable,
  ContractState,
  ContractThread,
  ContractTransition,
  Judges,
  RunStep,
  SearchVerdict,
  ThreadCall,
} from "./explorer.js";
export { kernelNegotiationRule, mutationsOf } from "./mapping-type-suite.js";
export type { LoopError, LoopMatch, Mutation } from "./mapping-type-suite.js";
