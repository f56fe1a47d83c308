/*
 * The three suites: `checkX` runs a suite's cases and returns verdicts
 * (no vitest: the zoo test and the zoo table use it); `xContract`
 * registers the same cases as vitest tests in the caller's test file.
 */
import { describe, it } from "vitest";
import { linux71 } from "@dmabuf-ref/core";
import type { AnyMappingType, Profile } from "@dmabuf-ref/core";
import type { CaseResult, ContractCase } from "./case.js";
import { ContractFailure } from "./case.js";
import type {
  ContractOptions,
  ExporterUnderTest,
  ImporterUnderTest,
  MappingTypeFixtures,
} from "./harness.js";
import { EXPORTER_CASES, exporterContext } from "./exporter-suite.js";
import { IMPORTER_CASES, importerContext } from "./importer-suite.js";
import { MAPPING_TYPE_CASES } from "./mapping-type-suite.js";

/** A case's stable id and its rule. */
export interface CaseInfo {
  /** The id, `<suite>/<rule>`. */
  readonly id: string;
  /** The rule, one sentence. */
  readonly rule: string;
}

/** Every case id of the three suites, with its rule (for skips and the zoo table). */
export const CONTRACT_CASES: readonly CaseInfo[] = [
  ...EXPORTER_CASES,
  ...IMPORTER_CASES,
  ...MAPPING_TYPE_CASES,
].map((c) => ({ id: c.id, rule: c.rule }));

/** Checks that every skipped id names a case of the suite (a typo would silently skip nothing). */
function checkSkips(cases: readonly { id: string }[], options: ContractOptions): void {
  for (const id of Object.keys(options.skip ?? {}))
    if (!cases.some((c) => c.id === id))
      throw new Error(`skip names no case: "${id}" (cases: ${cases.map((c) => c.id).join(", ")})`);
}

function runCases<C>(
  cases: readonly ContractCase<C>[],
  profile: string,
  ctx: () => C,
  options: ContractOptions,
): CaseResult[] {
  return cases.map((c) => {
    const reason = options.skip?.[c.id];
    if (reason !== undefined)
      return { id: c.id, rule: c.rule, profile, verdict: { status: "skipped", reason } };
    return { id: c.id, rule: c.rule, profile, verdict: c.check(ctx()) };
  });
}

/** Builds a value once, on first use. */
function once<T>(f: () => T): () => T {
  let v: { x: T } | undefined;
  return () => (v ??= { x: f() }).x;
}

/**
 * Runs the exporter suite and returns every case's verdict, per profile.
 *
 * @param harness - the exporter under test.
 * @param options - skips, runs, seed, bound.
 * @returns the results.
 */
export function checkExporter(
  harness: ExporterUnderTest,
  options: ContractOptions = {},
): CaseResult[] {
  checkSkips(EXPORTER_CASES, options);
  return profilesOf(harness).flatMap((p) =>
    runCases(
      EXPORTER_CASES,
      p.id,
      once(() => exporterContext(harness, p, options)),
      options,
    ),
  );
}

/**
 * Runs the importer suite and returns every case's verdict, per profile.
 *
 * @param harness - the importer under test.
 * @param options - skips, runs, seed, bound.
 * @returns the results.
 */
export function checkImporter(
  harness: ImporterUnderTest,
  options: ContractOptions = {},
): CaseResult[] {
  checkSkips(IMPORTER_CASES, options);
  return profilesOf(harness).flatMap((p) =>
    runCases(
      IMPORTER_CASES,
      p.id,
      once(() => importerContext(harness, p, options)),
      options,
    ),
  );
}

/**
 * Runs the mapping-type suite and returns every case's verdict.
 *
 * @param type - the mapping type.
 * @param fixtures - its fixtures.
 * @param options - skips, runs, seed.
 * @returns the results.
 */
export function checkMappingType(
  type: AnyMappingType,
  fixtures: MappingTypeFixtures,
  options: ContractOptions = {},
): CaseResult[] {
  checkSkips(MAPPING_TYPE_CASES, options);
  return runCases(MAPPING_TYPE_CASES, "-", () => ({ type, fixtures, options }), options);
}

function profilesOf(h: { readonly profiles?: readonly Profile[] }): readonly Profile[] {
  return h.profiles ?? [linux71];
}

/**
 * Registers one vitest test per case: a broken rule fails the test with a
 * {@link ContractFailure} (the rule, then the shortest run); a case that
 * does not apply, or that the consumer skipped, is reported skipped with
 * its reason.
 */
function register<C>(
  title: string,
  cases: readonly ContractCase<C>[],
  profiles: readonly { id: string; ctx: () => C }[],
  options: ContractOptions,
): void {
  checkSkips(cases, options);
  describe(title, () => {
    for (const p of profiles)
      for (const c of cases) {
        const name = `${c.id}${profiles.length > 1 ? ` [${p.id}]` : ""}: ${c.rule}`;
        const reason = options.skip?.[c.id];
        if (reason !== undefined) {
          it.skip(`${name} (skipped: ${reason})`, () => undefined);
          continue;
        }
        it(name, (t) => {
          const v = c.check(p.ctx());
          if (v.status === "not-applicable") t.skip(v.reason);
          else if (v.status === "fail") throw new ContractFailure(c.id, v.rule, v.run, v.detail);
        });
      }
  });
}

/**
 * Registers the exporter contract suite in the calling test file: the
 * lifetime rules (attach, map, unmap, detach, release), the revoke
 * obligations (invalidate under resv, every mapping unmapped before the
 * revoke completes, no DMA reaching memory given up, map and attach refused
 * with ENODEV after a revoke for good, the un-revoke's invalidate), errno
 * discipline, and model-based runs with a correct dynamic importer
 * ({@link contractImporter}) as the partner; the revoke cases explore every
 * interleaving and print the shortest counterexample.
 *
 * @param factory - builds the exporter under test (called once).
 * @param options - skips (by case id, with a reason), runs, seed, bound.
 *
 * @example
 * A complete test file: core's reference exporter (a driver author puts
 * their own in its place) on core's reference topology, revoked for good
 * with core's `revoke` op.
 * ```ts
 * // ref-exporter.contract.test.ts
 * import { defineMachine, referenceExporter, referenceTopology } from "@dmabuf-ref/core";
 * import { exporterContract, mustStep } from "@dmabuf-ref/contracts";
 *
 * exporterContract(() => ({
 *   driver: "ref-exporter",
 *   machine: (profile, partner) =>
 *     defineMachine({
 *       profile,
 *       topology: referenceTopology,
 *       exporters: [referenceExporter({ region: "ram0" })],
 *       importers: [partner],
 *     }),
 *   exportBuffer: (m, w) =>
 *     mustStep(m, w, {
 *       kind: "export",
 *       exporter: "ref-exporter",
 *       owner: "dev0",
 *       args: { size: 0x2000n },
 *     }),
 *   importingDevice: "dev1",
 *   revoke: (_m, _w, buf) => ({ kind: "revoke", buf, permanent: true, by: "close" }),
 * }));
 * ```
 * ```
 */
export function exporterContract(
  factory: () => ExporterUnderTest,
  options: ContractOptions = {},
): void {
  const harness = once(factory);
  const profiles = (harness().profiles ?? [linux71]).map((p) => ({
    id: p.id,
    ctx: once(() => exporterContext(harness(), p, options)),
  }));
  register(`exporter contract: ${harness().driver}`, EXPORTER_CASES, profiles, options);
}

/**
 * Registers the importer contract suite in the calling test file: the
 * lifetime rules (import, device access, release detaches everything, the
 * buffer released after), the revoke obligations (unmap in bounded steps
 * on invalidate_mappings, no device access after the unmap and no write
 * after the invalidate, release racing a revoke under the resv rules,
 * repeated invalidates harmless), errno discipline, and model-based runs
 * with the reference exporter ({@link contractExporter}) revoking,
 * un-revoking and closing; the revoke cases explore every interleaving and
 * print the shortest counterexample.
 *
 * @param factory - builds the importer under test (called once).
 * @param options - skips (by case id, with a reason), runs, seed, bound.
 *
 * @example
 * A complete test file: the contract importer itself (a dynamic importer
 * with a command submission, `submit`, and a teardown, `release`) under
 * test; a driver author puts their importer and its entry points in its
 * place.
 * ```ts
 * // dynamic-importer.contract.test.ts
 * import { defineMachine, importerHolder, referenceTopology } from "@dmabuf-ref/core";
 * import {
 *   CONTRACT_IMPORTER,
 *   attachmentsOf,
 *   dynamicImporter,
 *   importerContract,
 *   mustStep,
 *   mustSteps,
 *   releaseCall,
 *   submitCall,
 * } from "@dmabuf-ref/contracts";
 *
 * importerContract(() => ({
 *   driver: CONTRACT_IMPORTER,
 *   machine: (profile, partner) =>
 *     defineMachine({
 *       profile,
 *       topology: referenceTopology,
 *       exporters: [partner],
 *       importers: [dynamicImporter()],
 *     }),
 *   exportingDevice: "dev0",
 *   importBuffer: (m, w, buf) => {
 *     const attached = mustStep(m, w, {
 *       kind: "attach", buf, importer: CONTRACT_IMPORTER, device: "dev1", dynamic: true,
 *     });
 *     const att = attachmentsOf(attached, buf, CONTRACT_IMPORTER)[0] ?? -1;
 *     const holder = importerHolder(CONTRACT_IMPORTER, att);
 *     return mustSteps(m, attached, [
 *       { kind: "lock", buf, holder },
 *       { kind: "map", att, holder },
 *       { kind: "unlock", buf, holder },
 *     ]);
 *   },
 *   // A job through the command submission, then its access and its signal.
 *   access: (_m, w, buf, dir) =>
 *     attachmentsOf(w, buf, CONTRACT_IMPORTER).slice(0, 1).flatMap((att) => [
 *       submitCall(att, dir),
 *       (_w, created) => ({ kind: "dma-access", job: created[0] ?? -1 }),
 *       (_w, created) => ({ kind: "signal", job: created[0] ?? -1 }),
 *     ]),
 *   release: (_m, w, buf) => attachmentsOf(w, buf, CONTRACT_IMPORTER).map((att) => releaseCall(att)),
 *   userOps: (_m, w) =>
 *     [...w.atts.entries()]
 *       .filter(([, a]) => a.importer === CONTRACT_IMPORTER)
 *       .flatMap(([att]) => [submitCall(att, "write"), releaseCall(att)]),
 * }));
 * ```
 * ```
 */
export function importerContract(
  factory: () => ImporterUnderTest,
  options: ContractOptions = {},
): void {
  const harness = once(factory);
  const profiles = (harness().profiles ?? [linux71]).map((p) => ({
    id: p.id,
    ctx: once(() => importerContext(harness(), p, options)),
  }));
  register(`importer contract: ${harness().driver}`, IMPORTER_CASES, profiles, options);
}

/**
 * Registers the mapping-type contract suite in the calling test file: the
 * schemas accept the fixtures and refuse mutated ones, `match()` is
 * deterministic and answers 0, EOPNOTSUPP or another errno, negotiation
 * with the type follows the kernel's loop in property tests against
 * random offer and accept lists, and each converter to or from the type
 * preserves the memory it describes.
 *
 * @param type - the mapping type (`defineMappingType`).
 * @param fixtures - valid values of each side, optional invalid ones and converters.
 * @param options - skips (by case id, with a reason), runs, seed.
 *
 * @example
 * A complete test file for core's SGT type (`sgt`): what each side may
 * state and a payload; a driver author puts their type in its place.
 * ```ts
 * // sgt.contract.test.ts
 * import { sgt } from "@dmabuf-ref/core";
 * import { mappingTypeContract } from "@dmabuf-ref/contracts";
 *
 * mappingTypeContract(sgt, {
 *   exporterData: [{ requiresP2P: false }, { requiresP2P: true }],
 *   importerData: [{ device: "dev1", acceptsP2P: true }, { device: null, acceptsP2P: false }],
 *   payloads: [{ entries: [{ dmaAddress: 0x1000_0000n, length: 0x2000n }] }],
 * });
 * ```
 * ```
 */
export function mappingTypeContract(
  type: AnyMappingType,
  fixtures: MappingTypeFixtures,
  options: ContractOptions = {},
): void {
  const ctx = { type, fixtures, options };
  register(
    `mapping-type contract: ${type.id}`,
    MAPPING_TYPE_CASES,
    [{ id: "-", ctx: () => ctx }],
    options,
  );
}
