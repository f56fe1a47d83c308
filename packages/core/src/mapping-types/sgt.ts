import {
  arrayCodec,
  boolCodec,
  nullableCodec,
  recordCodec,
  stringCodec,
  u64Codec,
} from "../encoding/codecs.js";
import * as z from "zod";
import { kernelError } from "../errors/kernel-error.js";
import { deviceIdSchema, u64Schema } from "../schemas.js";
import { defineMappingType } from "./define.js";

/**
 * The SGT mapping type, "DMA Mapped Scatter Gather Table": an `sg_table` of
 * DMA addresses already mapped for one importing device.
 *
 * @remarks
 * kernel-model §4.3 (RFC patch 02) and §1.1 (the legacy `map_dma_buf`, which
 * the RFC routes through this type). Exporter data is
 * `exporter_requires_p2p` + `exporting_p2p_device`; importer data is
 * `importing_dma_device` + `importer_accepts_p2p`. The match rule: an
 * exporter that requires P2P matches only an importer that accepts P2P and
 * whose `pci_p2pdma_distance()` to the exporting device is >= 0; otherwise
 * `-EOPNOTSUPP` (skip). Under linux-6.19/7.1 there is no negotiation, and the
 * legacy `dma_buf_attach` / `dma_buf_dynamic_attach` path is this type.
 * @category Mapping types
 */
export const sgt = defineMappingType({
  id: "sgt",
  name: "DMA Mapped Scatter Gather Table",
  kernelModel: "§1.1, §4.3",
  summary: "DMA addresses mapped for the importing device; the exporter may move or revoke them",
  exporterData: z
    .object({
      /** `exporter_requires_p2p`: the memory is MMIO reachable only peer to peer. */
      requiresP2P: z.boolean(),
      /** `exporting_p2p_device`: the PCI function whose BAR is exported (needed with P2P). */
      p2pDevice: deviceIdSchema.optional(),
    })
    .refine((d) => !d.requiresP2P || d.p2pDevice !== undefined, {
      message: "an exporter that requires P2P names its exporting_p2p_device",
      path: ["p2pDevice"],
    }),
  importerData: z.object({
    /** `importing_dma_device`; null for an importer with no DMA device (KVM attaches with dev=NULL). */
    device: deviceIdSchema.nullable(),
    /** `importer_accepts_p2p` (from `dma_buf_attach_ops.allow_peer2peer`). */
    acceptsP2P: z.boolean(),
  }),
  payload: z.object({
    /** The DMA-mapped entries: DMA address and length, no page list (`orig_nents = 0` for MMIO). */
    entries: z.array(
      z.object({
        /** DMA address as the importing device must issue it (bus address or IOVA). */
        dmaAddress: u64Schema,
        /** Length in bytes. */
        length: u64Schema,
      }),
    ),
  }),
  importerDataCodec: recordCodec("sgt-accept", {
    device: nullableCodec(stringCodec),
    acceptsP2P: boolCodec,
  }),
  payloadCodec: recordCodec("sgt-payload", {
    entries: arrayCodec(recordCodec("sgt-entry", { dmaAddress: u64Codec, length: u64Codec })),
  }),
  match(ctx, exp, imp) {
    if (!exp.requiresP2P) return 0;
    if (!imp.acceptsP2P) {
      return kernelError(
        "EOPNOTSUPP",
        "exporter requires P2P but the importer does not accept P2P",
      );
    }
    if (imp.device === null || exp.p2pDevice === undefined) {
      return kernelError("EOPNOTSUPP", "exporter requires P2P but the importer has no DMA device");
    }
    const distance = ctx.p2pDistance(exp.p2pDevice, imp.device);
    if (distance < 0) {
      return kernelError(
        "EOPNOTSUPP",
        () =>
          `pci_p2pdma_distance(${String(exp.p2pDevice)}, ${String(imp.device)}) < 0: not P2P reachable`,
      );
    }
    return 0;
  },
  describe: (p) =>
    `sgt ${p.entries.length} entr${p.entries.length === 1 ? "y" : "ies"}` +
    p.entries.map((e) => ` 0x${e.dmaAddress.toString(16)}+0x${e.length.toString(16)}`).join(","),
});
