/*
 * The suites' partners: a correct exporter for the importer suite and a
 * correct dynamic importer for the exporter suite, so a failure is the
 * driver under test's: core's reference drivers (the importer with its
 * command submission `submit` and teardown `release`).
 */
import {
  CORRECT_SUBMIT,
  defineDriver,
  firstDmaAddress,
  referenceExporter,
  referenceImporter,
  releaseOp,
  submitOp,
} from "@dmabuf-ref/core";
import type {
  ExporterDriver,
  ImporterDriver,
  Machine,
  MappingState,
  Op,
  SubmitPolicy,
  World,
} from "@dmabuf-ref/core";

/**
 * The contract importer's name: the reference importer's.
 *
 * @category Partners
 */
export const CONTRACT_IMPORTER = "ref-importer";
/**
 * The contract exporter's name: the reference exporter's.
 *
 * @category Partners
 */
export const CONTRACT_EXPORTER = "ref-exporter";

/**
 * The exporter the importer suite hands buffers from: core's reference
 * exporter (kernel-model §3.6, iommufd's selftest mock), revocable, waiting
 * for every unmap, allocating from the RAM region `region`, with the mock's
 * selftest hook (the private phys lookup iommufd imports through under
 * linux-7.1, and PAL where the profile has it), so iommufd, which imports
 * nothing else, can be tested against it as its own selftests do.
 *
 * @param region - the RAM region it allocates from (default `ram0`).
 * @returns the exporter, named `ref-exporter`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, defineMachine, referenceTopology, rfcMappingTypesV1 } from "@dmabuf-ref/core";
 * import { CONTRACT_EXPORTER, contractExporter, contractImporter } from "@dmabuf-ref/contracts";
 *
 * const exporter = contractExporter(); // allocating from ram0
 * assert.equal(exporter.name, CONTRACT_EXPORTER);
 * // Where the profile has PAL it is the RFC's PAL exporter (iommufd's selftest mock).
 * const m = defineMachine({ profile: rfcMappingTypesV1, topology: referenceTopology,
 *   exporters: [exporter], importers: [contractImporter()] });
 * assert.deepEqual(exporter.offers(m, boot(m), 1).map((o) => o.type.id), ["pal", "sgt"]);
 * ```
 * @category Partners
 */
export function contractExporter(region = "ram0"): ExporterDriver {
  return referenceExporter({ region, selftestHook: true });
}

/**
 * What a wrong dynamic importer replaces in the contract importer.
 *
 * @category Partners
 */
export interface DynamicImporterChanges {
  /** The command submission's policy (default: {@link CORRECT_SUBMIT}). */
  readonly submit?: SubmitPolicy;
  /** `invalidate_mappings` (default: the reference importer's, which owes an unmap). */
  readonly invalidateMappings?: NonNullable<ImporterDriver["invalidateMappings"]>;
  /** The work it does on its own (default: the reference importer's owed unmaps). */
  readonly pending?: NonNullable<ImporterDriver["pending"]>;
  /**
   * What it accepts (default: the reference importer's one SGT accept), for
   * a partner that imports another mapping type; accepts name the module
   * `ref-importer`.
   */
  readonly accepts?: ImporterDriver["accepts"];
  /** Where a job through a mapping starts (default core's `firstDmaAddress`). */
  readonly addressOf?: (mapping: MappingState) => bigint | undefined;
}

/**
 * The contract importer, or a variant of it: core's reference dynamic
 * importer (kernel-model §1.3, §7.15: `allow_peer2peer`, one SGT accept,
 * on `invalidate_mappings` it stops starting DMA and owes an unmap it
 * performs as soon as resv is free; a command submission `submit` and a
 * teardown `release`). A zoo importer is this with one named change, so
 * it differs from the correct one only there.
 *
 * @param changes - what to replace (nothing: the correct importer).
 * @returns the importer, named `ref-importer`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, defineMachine, linux71, referenceTopology, runScript } from "@dmabuf-ref/core";
 * import { contractExporter, dynamicImporter, submitCall } from "@dmabuf-ref/contracts";
 *
 * // The contract importer with one change: its command submission skips resv.
 * const wrong = dynamicImporter({ submit: { remapsInvalidated: true, underResv: false } });
 * const m = defineMachine({ profile: linux71, topology: referenceTopology,
 *   exporters: [contractExporter()], importers: [wrong] });
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "dev0", args: { size: 0x2000n } },
 *   { kind: "attach", buf: 1, importer: "ref-importer", device: "dev1", dynamic: true },
 *   submitCall(1, "write"),
 * ]);
 * // The oracle records both locking rules the submission broke.
 * const rules = [...world.violations.values()].map((v) => v.rule);
 * assert.deepEqual(rules, [
 *   "dma_buf_map_attachment() of a dynamic attachment holds dmabuf->resv",
 *   "dma_resv_add_fence() holds dmabuf->resv",
 * ]);
 * ```
 * @category Partners
 */
export function dynamicImporter(changes: DynamicImporterChanges = {}): ImporterDriver {
  const right = referenceImporter();
  return defineDriver({
    role: "importer",
    name: right.name,
    slices: {},
    callbacks: {
      allowPeer2peer: right.allowPeer2peer,
      accepts: changes.accepts ?? ((m, w, req) => right.accepts(m, w, req)),
      invalidateMappings:
        changes.invalidateMappings ??
        ((m, w, att) => right.invalidateMappings?.(m, w, att) ?? { world: w, events: [] }),
      pending: changes.pending ?? ((m, w) => right.pending?.(m, w) ?? []),
    },
    ops: [
      submitOp(changes.submit ?? CORRECT_SUBMIT, changes.addressOf ?? firstDmaAddress),
      releaseOp(),
    ],
  });
}

/**
 * The importer the exporter suite attaches with: the correct
 * {@link dynamicImporter}.
 *
 * @returns the importer, named `ref-importer`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CONTRACT_IMPORTER, contractImporter } from "@dmabuf-ref/contracts";
 *
 * // A correct dynamic importer: P2P-capable and revocable (it has invalidate_mappings).
 * const importer = contractImporter();
 * assert.equal(importer.name, CONTRACT_IMPORTER);
 * assert.equal(importer.allowPeer2peer, true);
 * assert.equal(typeof importer.invalidateMappings, "function");
 * ```
 * @category Partners
 */
export function contractImporter(): ImporterDriver {
  return dynamicImporter();
}

/**
 * The `submit` op (core's command submission, `submitOp`) of a dynamic
 * importer for one attachment, as an op.
 *
 * @param att - the attachment.
 * @param dir - read or write.
 * @param driver - the importer registering `submit` (default the contract importer).
 * @param len - bytes (default 8).
 * @returns the op.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine, runScript } from "@dmabuf-ref/core";
 * import { submitCall } from "@dmabuf-ref/contracts";
 *
 * // A job of 8 bytes written through attachment 1 by the contract importer (ref-importer).
 * const action = { op: "submit", att: 1, len: 8n, dir: "write" };
 * assert.deepEqual(submitCall(1, "write"), { kind: "driver", driver: "ref-importer", action });
 * const m = referenceMachine();
 * const run = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "dev0", args: { size: 0x2000n } },
 *   { kind: "attach", buf: 1, importer: "ref-importer", device: "dev1", dynamic: true },
 *   submitCall(1, "write"), // maps under resv, then starts the job: it creates job 1
 * ]);
 * assert.equal(run.results[2]?.created, 1);
 * ```
 * @category Partners
 */
export function submitCall(
  att: number,
  dir: "read" | "write",
  driver: string = CONTRACT_IMPORTER,
  len = 8n,
): Op {
  return { kind: "driver", driver, action: { op: "submit", att, len, dir } };
}

/**
 * The `release` op (core's `releaseOp`) of a dynamic importer for one
 * attachment, as an op.
 *
 * @param att - the attachment.
 * @param driver - the importer registering `release` (default the contract importer).
 * @returns the op.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine, runScript } from "@dmabuf-ref/core";
 * import { releaseCall } from "@dmabuf-ref/contracts";
 *
 * assert.deepEqual(releaseCall(1), {
 *   kind: "driver", driver: "ref-importer", action: { op: "release", att: 1 },
 * });
 * const m = referenceMachine();
 * const run = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "dev0", args: { size: 0x2000n } },
 *   { kind: "attach", buf: 1, importer: "ref-importer", device: "dev1", dynamic: true },
 *   releaseCall(1), // the importer's teardown: unmap if mapped, then detach
 * ]);
 * assert.equal(run.world.atts.get(1), undefined);
 * ```
 * @category Partners
 */
export function releaseCall(att: number, driver: string = CONTRACT_IMPORTER): Op {
  return { kind: "driver", driver, action: { op: "release", att } };
}

/**
 * The attachments `importer` holds on `buf`, in id order.
 *
 * @param w - the world.
 * @param buf - the buffer.
 * @param importer - the importer's name.
 * @returns attachment ids.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine, runScript } from "@dmabuf-ref/core";
 * import { CONTRACT_IMPORTER, attachmentsOf } from "@dmabuf-ref/contracts";
 *
 * const m = referenceMachine();
 * const attach = { kind: "attach", buf: 1, importer: CONTRACT_IMPORTER, device: "dev1",
 *   dynamic: true } as const;
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "dev0", args: { size: 0x2000n } },
 *   attach, { ...attach, device: "dev2" },
 * ]);
 * assert.deepEqual(attachmentsOf(world, 1, CONTRACT_IMPORTER), [1, 2]);
 * assert.deepEqual(attachmentsOf(world, 1, "iommufd"), []);
 * ```
 * @category Partners
 */
export function attachmentsOf(w: World, buf: number, importer: string): number[] {
  const b = w.bufs.get(buf);
  // The buffer's list is newest first (list_add); callers want id order.
  return (b?.attachments ?? [])
    .filter((id) => w.atts.get(id)?.importer === importer)
    .sort((x, y) => x - y);
}

/**
 * The machine's importer or exporter by name, or a thrown error naming
 * what the harness forgot.
 *
 * @param m - the machine.
 * @param name - the driver's name.
 * @param role - which table.
 */
export function mustHaveDriver(m: Machine, name: string, role: "exporter" | "importer"): void {
  const table = role === "exporter" ? m.exporters : m.importers;
  if (!table.has(name))
    throw new Error(
      `the harness's machine has no ${role} named "${name}" (it has: ${[...table.keys()].join(", ")})`,
    );
}
