import type { Machine } from "../machine/machine.js";
import type { Result } from "../errors/result.js";
import { callSymbol } from "../machine/symbol.js";
import { vfioIommufdMapSymbol } from "../mapping-types/vfio-iommufd-private.js";
import type { PhysVec } from "../schemas.js";
import { isKernelError, lookupAtt } from "../world/access.js";
import type { World } from "../world/world.js";

/**
 * The importer side of the private VFIO->iommufd interconnect
 * (`sym_vfio_pci_dma_buf_iommufd_map`, kernel-model §2.7, §3.3): calls the
 * exporter's {@link vfioIommufdMapSymbol} for its physical ranges, with resv held by
 * `holder` (calling it without resv is a bug in the importer model and
 * throws). A buffer whose exporter has no private interconnect is
 * `EOPNOTSUPP` ("the ops are not VFIO's"); the exporter answers `ENODEV`
 * when revoked and `EOPNOTSUPP` for more than one range. Nothing is
 * recorded as mapped: iommufd never calls `map_dma_buf`.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param att - the attachment id.
 * @param holder - who holds the buffer's resv.
 * @returns the ranges, or the errno.
 * @kernel drivers/iommu/iommufd/pages.c sym_vfio_pci_dma_buf_iommufd_map
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   boot,
 *   privatePhys,
 *   referenceExporter,
 *   referenceMachine,
 *   runScript,
 * } from "@dmabuf-ref/core";
 *
 * // the iommufd selftest mock answers iommufd's private phys lookup
 * const mock = referenceExporter({ name: "mock", region: "ram0", selftestHook: true });
 * const m = referenceMachine({ exporters: [mock] });
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "mock", owner: "selftest", args: { size: 0x4000 } },
 *   { kind: "attach", buf: 1, importer: "ref-importer", device: "dev0", dynamic: true },
 *   { kind: "lock", buf: 1, holder: "iommufd#ioas 2" },
 * ]);
 * const r = privatePhys(m, world, 1, "iommufd#ioas 2");
 * assert.ok(r.ok);
 * assert.deepEqual(r.value, [{ paddr: 0x1_0000_0000n, len: 0x4000n }]);
 * ```
 *
 * @category Lifetime
 */
export function privatePhys(
  m: Machine,
  w: World,
  att: number,
  holder: string,
): Result<readonly PhysVec[]> {
  const a = lookupAtt(w, att);
  if (isKernelError(a)) return { ok: false, error: a };
  return callSymbol(m, w, att, vfioIommufdMapSymbol, {
    caller: "iommufd",
    holder,
    foreign: `buf ${a.buf} is not a VFIO dma-buf`,
  });
}
