/*
 * The shape of one entry of the bug zoo: a wrong driver in its harness,
 * where the bug comes from, and what must catch it.
 */
import type { ExporterDriver, ImporterDriver } from "@dmabuf-ref/core";
import type { ExporterUnderTest, ImporterUnderTest } from "@dmabuf-ref/contracts";

/** What every zoo entry says, whatever the role of its wrong driver. */
interface ZooBugBase {
  /** Stable kebab-case id (the file name without `.ts`). */
  readonly id: string;
  /** The bug in one line. */
  readonly title: string;
  /** The kernel commit, CVE or list discussion the bug comes from. */
  readonly source: string;
  /**
   * The contract case that catches it and a substring of the rule its
   * failure names (`CaseVerdict.rule`).
   */
  readonly caughtBy: {
    /** The case id, e.g. `importer/revoke-unmaps`. */
    readonly case: string;
    /** A substring of the broken rule the case reports. */
    readonly rule: string;
  };
  /**
   * The scenario of `rfc/scenarios/` in which the explorer shows the bug.
   * With `substituted`, the file holds on the right drivers and the
   * expectation `expect` fails once the wrong driver replaces the
   * machine's driver of the same name (`substitute`).
   * Without it, the file's own machine already runs the wrong code (a
   * kernel version or driver that has the bug) and `expect` holds, showing it.
   */
  readonly scenario?: {
    /** The file name in `rfc/scenarios/`, e.g. `kref-underflow-close.yaml`. */
    readonly file: string;
    /** The expectation as the file writes it, e.g. `forall: no-violation`. */
    readonly expect: string;
    /** Whether the zoo driver is substituted (the expectation fails) or the file runs as is (it holds). */
    readonly substituted: boolean;
  };
  /**
   * Why no scenario can show the bug, when none does: what the bug changes
   * that no scenario condition observes (only its suite case, which counts
   * the callbacks, catches it).
   */
  readonly unseenByScenarios?: string;
}

/** A wrong exporter (`struct dma_buf_ops` provider) in its harness. */
export interface ExporterZooBug extends ZooBugBase {
  /** The wrong driver is an exporter: the exporter suite catches it. */
  readonly role: "exporter";
  /** The wrong exporter in its harness, fresh per call. */
  harness(): ExporterUnderTest;
  /** The same harness with the fixed driver, which passes `caughtBy.case`. */
  fixed(): ExporterUnderTest;
  /**
   * The wrong driver in place of a machine's exporter of the same name
   * (for the explorer on `scenario`'s file): the original made wrong in
   * the named way, keeping its configuration. Present when
   * `scenario.substituted` is.
   *
   * @param original - the machine's driver of that name.
   */
  readonly substitute?: (original: ExporterDriver) => ExporterDriver;
}

/** A wrong importer (`struct dma_buf_attach_ops` provider) in its harness. */
export interface ImporterZooBug extends ZooBugBase {
  /** The wrong driver is an importer: the importer suite catches it. */
  readonly role: "importer";
  /** The wrong importer in its harness, fresh per call. */
  harness(): ImporterUnderTest;
  /** The same harness with the fixed driver, which passes `caughtBy.case`. */
  fixed(): ImporterUnderTest;
  /**
   * The wrong driver in place of a machine's importer of the same name
   * (see {@link ExporterZooBug.substitute}).
   *
   * @param original - the machine's driver of that name.
   */
  readonly substitute?: (original: ImporterDriver) => ImporterDriver;
}

/**
 * One wrong driver of the bug zoo: a driver the kernel had or discussed
 * that breaks one named rule of the dma-buf contract, in the harness its
 * suite runs it in, with the case that must catch it and, where one
 * exists, the scenario that refutes it.
 *
 * @example
 * ```ts
 * import { checkExporter, checkImporter } from "@dmabuf-ref/contracts";
 * import { ZOO } from "@dmabuf-ref/contracts/zoo";
 *
 * for (const bug of ZOO) {
 *   const results =
 *     bug.role === "exporter" ? checkExporter(bug.harness()) : checkImporter(bug.harness());
 *   const caught = results.find((r) => r.id === bug.caughtBy.case);
 *   console.log(bug.id, caught?.verdict.status); // "fail"
 * }
 * ```
 */
export type ZooBug = ExporterZooBug | ImporterZooBug;
