import type { Machine } from "../machine/machine.js";
import type { ExporterDriver } from "../machine/machine.js";
import type { AttachmentState } from "../world/attachment-state.js";

/**
 * Whether map pins first and unmap unpins (kernel-model §1.2): the exporter
 * has a `pin` op and the importer cannot follow moves, i.e. the attachment
 * is static, or (CONFIG_DMABUF_MOVE_NOTIFY=n, linux-6.19) any attachment.
 *
 * @param m - the machine (for the profile).
 * @param exporter - the buffer's exporter driver.
 * @param att - the attachment.
 * @returns true when map must pin.
 */
export function pinsOnMap(m: Machine, exporter: ExporterDriver, att: AttachmentState): boolean {
  if (exporter.pin === undefined) return false;
  return !att.dynamic || !m.profile.rules.dynamicImportersMoveCapable;
}
