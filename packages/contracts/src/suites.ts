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

/**
 * A case's stable id and its rule.
 *
 * @category Contract suites
 */
export interface CaseInfo {
  /** The id, `<suite>/<rule>`. */
  readonly id: string;
  /** The rule, one sentence. */
  readonly rule: string;
}

/**
 * Every case id of the three suites, with its rule (for skips and the zoo table).
 *
 * @category Contract suites
 */
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
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defineMachine, referenceExporter, referenceTopology } from "@dmabuf-ref/core";
 * import { checkExporter, mustStep } from "@dmabuf-ref/contracts";
 * import type { ExporterUnderTest } from "@dmabuf-ref/contracts";
 *
 * // Core's reference exporter on core's reference topology, revoked for good by a close.
 * const harness: ExporterUnderTest = {
 *   driver: "ref-exporter",
 *   machine: (profile, partner) => defineMachine({ profile, topology: referenceTopology,
 *     exporters: [referenceExporter({ region: "ram0" })], importers: [partner] }),
 *   exportBuffer: (m, w) => mustStep(m, w,
 *     { kind: "export", exporter: "ref-exporter", owner: "dev0", args: { size: 0x2000n } }),
 *   importingDevice: "dev1",
 *   revoke: (_m, _w, buf) => ({ kind: "revoke", buf, permanent: true, by: "close" }),
 * };
 * const results = checkExporter(harness, { runs: 5 }); // under linux-7.1, the default profile
 * assert.ok(results.every((r) => r.profile === "linux-7.1" && r.verdict.status !== "fail"));
 * // It has no temporary revoke, so the un-revoke cases do not apply.
 * const na = results.filter((r) => r.verdict.status === "not-applicable").map((r) => r.id);
 * assert.deepEqual(na, ["exporter/revoke-after-revoke", "exporter/unrevoke-invalidates"]);
 * ```
 * @category Contract suites
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
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defineMachine, importerHolder, referenceTopology } from "@dmabuf-ref/core";
 * import type { ImporterDriver } from "@dmabuf-ref/core";
 * import {
 *   CONTRACT_IMPORTER, attachmentsOf, checkImporter, dynamicImporter, mustStep, mustSteps,
 *   releaseCall, submitCall,
 * } from "@dmabuf-ref/contracts";
 * import type { ImporterUnderTest } from "@dmabuf-ref/contracts";
 *
 * // A dynamic importer attaching for dev1, mapping under resv, submitting jobs.
 * const harness = (importer: ImporterDriver): ImporterUnderTest => ({
 *   driver: CONTRACT_IMPORTER,
 *   machine: (profile, partner) => defineMachine({ profile, topology: referenceTopology,
 *     exporters: [partner], importers: [importer] }),
 *   exportingDevice: "dev0",
 *   importBuffer: (m, w, buf) => {
 *     const attached = mustStep(m, w,
 *       { kind: "attach", buf, importer: CONTRACT_IMPORTER, device: "dev1", dynamic: true });
 *     const att = attachmentsOf(attached, buf, CONTRACT_IMPORTER)[0] ?? -1;
 *     const holder = importerHolder(CONTRACT_IMPORTER, att);
 *     return mustSteps(m, attached, [{ kind: "lock", buf, holder }, { kind: "map", att, holder },
 *       { kind: "unlock", buf, holder }]);
 *   },
 *   // A job through the command submission, then its access and its signal.
 *   access: (_m, w, buf, dir) =>
 *     attachmentsOf(w, buf, CONTRACT_IMPORTER).slice(0, 1).flatMap((att) => [
 *       submitCall(att, dir),
 *       (_w, created) => ({ kind: "dma-access", job: created[0] ?? -1 }),
 *       (_w, created) => ({ kind: "signal", job: created[0] ?? -1 }),
 *     ]),
 *   release: (_m, w, buf) => attachmentsOf(w, buf, CONTRACT_IMPORTER).map((a) => releaseCall(a)),
 * });
 * // A wrong importer: its command submission maps and adds the fence without resv.
 * const wrong = dynamicImporter({ submit: { remapsInvalidated: true, underResv: false } });
 * const slow = ["revoke-unmaps", "no-access-after-unmap", "release-races-revoke",
 *   "unrevoke-is-harmless", "model-runs-keep-the-rules"];
 * const skip = Object.fromEntries(slow.map((c) => [`importer/${c}`, "kept short"]));
 * const [lifetime] = checkImporter(harness(wrong), { skip });
 * assert.equal(lifetime?.id, "importer/lifetime");
 * assert.equal(lifetime?.verdict.status, "fail");
 * ```
 * @category Contract suites
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
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sgt } from "@dmabuf-ref/core";
 * import { checkMappingType } from "@dmabuf-ref/contracts";
 *
 * // What each side of core's SGT type may state, and a payload.
 * const fixtures = {
 *   exporterData: [{ requiresP2P: false }, { requiresP2P: true, p2pDevice: "vfio0" }],
 *   importerData: [{ device: "dev1", acceptsP2P: true }, { device: null, acceptsP2P: false }],
 *   payloads: [{ entries: [{ dmaAddress: 0x1000_0000n, length: 0x2000n }] }],
 * };
 * const results = checkMappingType(sgt, fixtures, { runs: 20 });
 * assert.deepEqual(results.map((r) => [r.id, r.verdict.status]), [
 *   ["type/schemas-accept-fixtures", "pass"],
 *   ["type/schemas-reject-mutations", "pass"],
 *   ["type/match-deterministic", "pass"],
 *   ["type/negotiation-kernel-rule", "pass"],
 *   ["type/converter-preserves-memory", "not-applicable"], // no converter fixture given
 * ]);
 * ```
 * @category Contract suites
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
 * ```ts
 * import assert from "node:assert/strict";
 * import { defineMachine, referenceExporter, referenceTopology } from "@dmabuf-ref/core";
 * import { checkExporter, mustStep } from "@dmabuf-ref/contracts";
 * import type { ExporterUnderTest } from "@dmabuf-ref/contracts";
 *
 * // Core's reference exporter (a driver author puts theirs in its place).
 * const harness: ExporterUnderTest = {
 *   driver: "ref-exporter",
 *   machine: (profile, partner) => defineMachine({ profile, topology: referenceTopology,
 *     exporters: [referenceExporter({ region: "ram0" })], importers: [partner] }),
 *   exportBuffer: (m, w) => mustStep(m, w,
 *     { kind: "export", exporter: "ref-exporter", owner: "dev0", args: { size: 0x2000n } }),
 *   importingDevice: "dev1",
 *   revoke: (_m, _w, buf) => ({ kind: "revoke", buf, permanent: true, by: "close" }),
 * };
 * // In a vitest file (ref-exporter.contract.test.ts), one line registers a test per case:
 * //   exporterContract(() => harness);
 * // checkExporter runs the same cases without vitest:
 * assert.ok(checkExporter(harness, { runs: 5 }).every((r) => r.verdict.status !== "fail"));
 * ```
 * @category Contract suites
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
 * ```ts
 * import assert from "node:assert/strict";
 * import { defineMachine, importerHolder, referenceTopology } from "@dmabuf-ref/core";
 * import type { ImporterDriver } from "@dmabuf-ref/core";
 * import {
 *   CONTRACT_IMPORTER, attachmentsOf, checkImporter, dynamicImporter, mustStep, mustSteps,
 *   releaseCall, submitCall,
 * } from "@dmabuf-ref/contracts";
 * import type { ImporterUnderTest } from "@dmabuf-ref/contracts";
 *
 * // The contract importer itself under test; a driver author puts theirs in its place.
 * const harness = (importer: ImporterDriver): ImporterUnderTest => ({
 *   driver: CONTRACT_IMPORTER,
 *   machine: (profile, partner) => defineMachine({ profile, topology: referenceTopology,
 *     exporters: [partner], importers: [importer] }),
 *   exportingDevice: "dev0",
 *   importBuffer: (m, w, buf) => {
 *     const attached = mustStep(m, w,
 *       { kind: "attach", buf, importer: CONTRACT_IMPORTER, device: "dev1", dynamic: true });
 *     const att = attachmentsOf(attached, buf, CONTRACT_IMPORTER)[0] ?? -1;
 *     const holder = importerHolder(CONTRACT_IMPORTER, att);
 *     return mustSteps(m, attached, [{ kind: "lock", buf, holder }, { kind: "map", att, holder },
 *       { kind: "unlock", buf, holder }]);
 *   },
 *   // A job through the command submission, then its access and its signal.
 *   access: (_m, w, buf, dir) =>
 *     attachmentsOf(w, buf, CONTRACT_IMPORTER).slice(0, 1).flatMap((att) => [
 *       submitCall(att, dir),
 *       (_w, created) => ({ kind: "dma-access", job: created[0] ?? -1 }),
 *       (_w, created) => ({ kind: "signal", job: created[0] ?? -1 }),
 *     ]),
 *   release: (_m, w, buf) => attachmentsOf(w, buf, CONTRACT_IMPORTER).map((a) => releaseCall(a)),
 * });
 * // In a vitest file (dynamic-importer.contract.test.ts), one line registers a test per case:
 * //   importerContract(() => harness(dynamicImporter()));
 * // checkImporter runs the same cases without vitest:
 * const results = checkImporter(harness(dynamicImporter()), { runs: 5 });
 * assert.ok(results.every((r) => r.verdict.status === "pass"));
 * ```
 * @category Contract suites
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
 * ```ts
 * import assert from "node:assert/strict";
 * import { sgt } from "@dmabuf-ref/core";
 * import { checkMappingType } from "@dmabuf-ref/contracts";
 *
 * // What each side of core's SGT type may state, and a payload.
 * const fixtures = {
 *   exporterData: [{ requiresP2P: false }, { requiresP2P: true, p2pDevice: "vfio0" }],
 *   importerData: [{ device: "dev1", acceptsP2P: true }, { device: null, acceptsP2P: false }],
 *   payloads: [{ entries: [{ dmaAddress: 0x1000_0000n, length: 0x2000n }] }],
 * };
 * // In a vitest file (sgt.contract.test.ts), one line registers a test per case:
 * //   mappingTypeContract(sgt, fixtures);
 * // checkMappingType runs the same cases without vitest:
 * assert.ok(checkMappingType(sgt, fixtures).every((r) => r.verdict.status !== "fail"));
 * ```
 * @category Contract suites
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
