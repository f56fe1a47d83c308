import type { Hardware } from "../fabric/topology.js";
import { kernelError } from "../errors/kernel-error.js";
import type { KernelError } from "../errors/kernel-error.js";
import type { ExporterDriver, ImporterDriver, Machine } from "../machine/machine.js";
import type { TraceEvent } from "../trace/event.js";
import type { AttachmentState } from "./attachment-state.js";
import type { DmaBufState } from "./dmabuf-state.js";
import type { Violation } from "./violation.js";
import type { World } from "./world.js";
import { idsInGroup } from "../encoding/group-index.js";
import { violationKey, worldWith } from "./world.js";

/**
 * A buffer that must exist (its absence is a bug in the model).
 *
 * @param w - the world.
 * @param id - the dma-buf id.
 * @returns the buffer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, mustBuf, referenceMachine, step } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const args = { size: 0x4000 };
 * const exp = step(m, boot(m), { kind: "export", exporter: "ref-exporter", owner: "exp0", args });
 * assert.ok(exp.status === "done" && exp.created !== undefined);
 * assert.equal(mustBuf(exp.world, exp.created).size, 0x4000n);
 * // A buffer the model expected and lacks is a model bug: thrown, not an errno.
 * assert.throws(() => mustBuf(exp.world, 9), /no dma-buf 9/);
 * ```
 * @category Lifetime
 */
export function mustBuf(w: World, id: number): DmaBufState {
  const b = w.bufs.get(id);
  if (b === undefined) throw new Error(`no dma-buf ${id}`);
  return b;
}

/**
 * An attachment that must exist (its absence is a bug in the model).
 *
 * @param w - the world.
 * @param id - the attachment id.
 * @returns the attachment.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, mustAtt, referenceMachine } from "@dmabuf-ref/core";
 *
 * assert.throws(() => mustAtt(boot(referenceMachine()), 1), /no attachment 1/);
 * ```
 * @category Lifetime
 */
export function mustAtt(w: World, id: number): AttachmentState {
  const a = w.atts.get(id);
  if (a === undefined) throw new Error(`no attachment ${id}`);
  return a;
}

/**
 * Looks up a caller-named buffer: unknown or released ids are `EBADF`, as
 * `dma_buf_get()` answers for an fd that is not a live dma-buf.
 *
 * @param w - the world.
 * @param id - the dma-buf id the caller named.
 * @returns the buffer or the error.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, isKernelError, lookupBuf, referenceMachine } from "@dmabuf-ref/core";
 *
 * // dma_buf_get() of fd 5 when no such dma-buf is open: EBADF.
 * const r = lookupBuf(boot(referenceMachine()), 5);
 * assert.ok(isKernelError(r));
 * assert.equal(r.errno, "EBADF");
 * ```
 * @category Lifetime
 */
export function lookupBuf(w: World, id: number): DmaBufState | KernelError {
  const b = w.bufs.get(id);
  return b === undefined || b.released
    ? kernelError("EBADF", () => `buf ${id} is not a live dma-buf`)
    : b;
}

/**
 * Looks up a caller-named attachment: unknown ids are `EINVAL`.
 *
 * @param w - the world.
 * @param id - the attachment id the caller named.
 * @returns the attachment or the error.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, isKernelError, lookupAtt, referenceMachine } from "@dmabuf-ref/core";
 *
 * const r = lookupAtt(boot(referenceMachine()), 3);
 * assert.ok(isKernelError(r));
 * assert.equal(r.errno, "EINVAL");
 * ```
 * @category Lifetime
 */
export function lookupAtt(w: World, id: number): AttachmentState | KernelError {
  const a = w.atts.get(id);
  return a === undefined ? kernelError("EINVAL", () => `attachment ${id} does not exist`) : a;
}

/**
 * Whether a lookup returned an error.
 *
 * @param v - a lookup's result.
 * @returns true for a {@link KernelError}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, isKernelError, kernelError, lookupBuf, referenceMachine } from "@dmabuf-ref/core";
 *
 * assert.equal(isKernelError(kernelError("ENOTTY", "unknown ioctl")), true);
 * assert.equal(isKernelError(lookupBuf(boot(referenceMachine()), 1)), true);
 * assert.equal(isKernelError({ errno: "EBADF" }), false); // no message: not a KernelError
 * ```
 * @category Lifetime
 */
export function isKernelError(v: object): v is KernelError {
  return "errno" in v && "message" in v;
}

/**
 * The exporter driver of a buffer (a missing driver is a configuration bug).
 *
 * @param m - the machine.
 * @param buf - the buffer.
 * @returns its driver.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, exporterOf, mustBuf, referenceMachine, step } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const args = { size: 0x4000 };
 * const exp = step(m, boot(m), { kind: "export", exporter: "ref-exporter", owner: "exp0", args });
 * assert.ok(exp.status === "done" && exp.created !== undefined);
 * assert.equal(exporterOf(m, mustBuf(exp.world, exp.created)).name, "ref-exporter");
 * ```
 * @category Drivers
 */
export function exporterOf(m: Machine, buf: DmaBufState): ExporterDriver {
  const d = m.exporters.get(buf.exporter);
  if (d === undefined) throw new Error(`exporter driver ${buf.exporter} is not configured`);
  return d;
}

/**
 * The importer driver of an attachment.
 *
 * @param m - the machine.
 * @param att - the attachment.
 * @returns its driver.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, importerOf, mustAtt, referenceMachine, step } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const args = { size: 0x4000 };
 * const exp = step(m, boot(m), { kind: "export", exporter: "ref-exporter", owner: "exp0", args });
 * assert.ok(exp.status === "done" && exp.created !== undefined);
 * const att = step(m, exp.world, {
 *   kind: "attach",
 *   buf: exp.created,
 *   importer: "ref-importer",
 *   device: "dev0",
 *   dynamic: true,
 * });
 * assert.ok(att.status === "done" && att.created !== undefined);
 * assert.equal(importerOf(m, mustAtt(att.world, att.created)).name, "ref-importer");
 * ```
 * @category Drivers
 */
export function importerOf(m: Machine, att: AttachmentState): ImporterDriver {
  const d = m.importers.get(att.importer);
  if (d === undefined) throw new Error(`importer driver ${att.importer} is not configured`);
  return d;
}

/**
 * A violation recorded in the world, with the event that reports it.
 *
 * @category Fabric and oracle
 */
export interface Recorded {
  /** The world with the violation appended. */
  readonly world: World;
  /** The `violation` event. */
  readonly event: TraceEvent;
}

/**
 * Records a violation and returns the event that reports it. The world
 * keeps each distinct violation once, in the order first seen: the same
 * violation caught again is reported again but changes no state, so a
 * world does not count repetitions for ever.
 *
 * @param w - the world.
 * @param v - what was broken.
 * @returns the world with the violation appended, and its event.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, recordViolation, referenceMachine } from "@dmabuf-ref/core";
 *
 * const v = {
 *   kind: "contract" as const,
 *   rule: "resv held for map of a dynamic attachment",
 *   actor: "ref-importer",
 *   message: "map of attachment 1 without dmabuf->resv",
 * };
 * const once = recordViolation(boot(referenceMachine()), v);
 * assert.deepEqual(once.event, { kind: "violation", violation: v });
 * assert.equal(once.world.violations.size, 1);
 * // Caught again: reported again, recorded once.
 * assert.equal(recordViolation(once.world, v).world, once.world);
 * ```
 * @category Fabric and oracle
 */
export function recordViolation(w: World, v: Violation): Recorded {
  const event: TraceEvent = { kind: "violation", violation: v };
  // Recorded once: an earlier violation saying the same is found by its key.
  if (idsInGroup(w.violations.index, violationKey(v)).next().done !== true)
    return { world: w, event };
  return { world: worldWith(w, { violations: w.violations.set(w.violations.size, v) }), event };
}

/**
 * The topology index of a device.
 *
 * @param m - the machine.
 * @param device - the device name.
 * @returns its index, or -1.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { deviceIndex, referenceMachine } from "@dmabuf-ref/core";
 *
 * // Devices are indexed in topology order: dev0, dev1, dev2.
 * const m = referenceMachine();
 * assert.equal(deviceIndex(m, "dev2"), 2);
 * assert.equal(deviceIndex(m, "vfio0"), -1);
 * ```
 * @category Fabric and oracle
 */
export function deviceIndex(m: Hardware, device: string): number {
  return m.topology.devices.findIndex((d) => d.id === device);
}
