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
import { violationKey } from "./world.js";

/**
 * A buffer that must exist (its absence is a bug in the model).
 *
 * @param w - the world.
 * @param id - the dma-buf id.
 * @returns the buffer.
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
 */
export function importerOf(m: Machine, att: AttachmentState): ImporterDriver {
  const d = m.importers.get(att.importer);
  if (d === undefined) throw new Error(`importer driver ${att.importer} is not configured`);
  return d;
}

/** A violation recorded in the world, with the event that reports it. */
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
 */
export function recordViolation(w: World, v: Violation): Recorded {
  const event: TraceEvent = { kind: "violation", violation: v };
  // Recorded once: an earlier violation saying the same is found by its key.
  if (idsInGroup(w.violations.index, violationKey(v)).next().done !== true)
    return { world: w, event };
  return { world: { ...w, violations: w.violations.set(w.violations.size, v) }, event };
}

/**
 * The topology index of a device.
 *
 * @param m - the machine.
 * @param device - the device name.
 * @returns its index, or -1.
 */
export function deviceIndex(m: Hardware, device: string): number {
  return m.topology.devices.findIndex((d) => d.id === device);
}
