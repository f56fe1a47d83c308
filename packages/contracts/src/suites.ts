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
 * ```ts
 * // my-exporter.contract.test.ts
 * import { defineMachine, driverOpCall, referenceTopology } from "@dmabuf-ref/core";
 * import { contractImporter, exporterContract, mustStep } from "@dmabuf-ref/contracts";
 * import { myExporter } from "../src/my-exporter.js";
 *
 * exporterContract(() => ({
 *   driver: "my-exporter",
 *   machine: (profile, partner) =>
 *     defineMachine({
 *       profile,
 *       topology: referenceTopology,
 *       exporters: [myExporter({ region: "ram0" })],
 *       importers: [partner],
 *     }),
 *   exportBuffer: (m, w) =>
 *     mustStep(m, w, {
 *       kind: "export",
 *       exporter: "my-exporter",
 *       owner: "dev0",
 *       args: { size: 0x2000n },
 *     }),
 *   importingDevice: "dev1",
 *   revoke: (_m, _w, buf) => ({ kind: "revoke", buf, permanent: true, by: "close" }),
 * }));
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
 * ```ts
 * // my-importer.contract.test.ts
 * import { defineMachine, importerHolder, referenceTopology } from "@dmabuf-ref/core";
 * import { importerContract, mustStep, mustSteps } from "@dmabuf-ref/contracts";
 * import { myImporter } from "../src/my-importer.js";
 *
 * importerContract(() => ({
 *   driver: "my-importer",
 *   machine: (profile, partner) =>
 *     defineMachine({
 *       profile,
 *       topology: referenceTopology,
 *       exporters: [partner],
 *       importers: [myImporter()],
 *     }),
 *   exportingDevice: "dev0",
 *   importBuffer: (m, w, buf) =>
 *     mustStep(m, w, {
 *       kind: "driver",
 *       driver: "my-importer",
 *       action: { op: "import", buf, device: "dev1" },
 *     }),
 *   access: (_m, w, buf, dir) => myDmaThroughImport(w, buf, dir),
 *   release: (_m, w, buf) => [
 *     { kind: "driver", driver: "my-importer", action: { op: "release", buf } },
 *   ],
 * }));
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
 * ```ts
 * // ualink.contract.test.ts
 * import { mappingTypeContract } from "@dmabuf-ref/contracts";
 * import { ualink } from "../src/ualink.js";
 *
 * mappingTypeContract(ualink, {
 *   exporterData: [{ fabric: "ual0" }, { fabric: "ual1" }],
 *   importerData: [{ fabric: "ual0" }],
 *   payloads: [{ fabricAddr: 0x1000n, len: 0x2000n }],
 * });
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
