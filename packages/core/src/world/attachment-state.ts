import type { Codec } from "../encoding/codec.js";
import { pushString, pushU64, pushOptionalString } from "../encoding/hash.js";
import type { Encoded } from "../encoding/codecs.js";
import { encodedCodec } from "../encoding/codecs.js";

/**
 * An IOVA range a map created in an IOMMU domain (to undo at unmap).
 *
 * @category Lifetime
 */
export interface IovaRange {
  /** The domain id. */
  readonly domain: number;
  /** First IOVA. */
  readonly iova: bigint;
  /** Length in bytes. */
  readonly len: bigint;
}

/**
 * What a map handed to the importer and what it lets devices reach.
 *
 * @category Lifetime
 */
export interface MappingState {
  /**
   * The mapping type's payload (an sgt, a phys list, ...), stored with the
   * type's `payloadCodec` (`mappingPayload` makes one, `payloadAs` reads it).
   */
  readonly payload: Encoded<unknown>;
  /** The grants (device access rights) the mapping created. */
  readonly grants: readonly number[];
  /** IOVA the map allocated (`dma_iova_link` / `dma_map_phys`), undone by unmap. */
  readonly iova: readonly IovaRange[];
}

/**
 * One `struct dma_buf_attachment` (kernel-model §1.2): the importing device,
 * static or dynamic, `peer2peer`, whether the importer has an invalidation
 * callback, pins, the negotiated mapping type and the current mapping.
 *
 * @kernel include/linux/dma-buf.h dma_buf_attachment
 *
 * @category Lifetime
 */
export interface AttachmentState {
  /** The dma-buf's id. */
  readonly buf: number;
  /** The importer driver's name. */
  readonly importer: string;
  /** `attach->dev`; null for KVM, which attaches with dev = NULL. */
  readonly device: string | null;
  /** `attach->importer_ops` is set (`dma_buf_dynamic_attach`). */
  readonly dynamic: boolean;
  /** `attach->peer2peer` (from `allow_peer2peer`; false for static). */
  readonly peer2peer: boolean;
  /** The importer's ops have `invalidate_mappings` (`move_notify`). */
  readonly hasInvalidate: boolean;
  /** Outstanding `dma_buf_pin()` calls not yet unpinned. */
  readonly pins: number;
  /** The negotiated type's id (`attach->map_type`): what the importer receives. */
  readonly mapType: string;
  /** The type the exporter provides: `mapType`, or the converter's source type. */
  readonly exporterType: string;
  /**
   * The winning accept's importer data (what the importer stated for
   * `mapType`), stored with the type's `importerDataCodec`.
   */
  readonly importerData: Encoded<unknown>;
  /** The converter core inserted, if any. */
  readonly converter: string | null;
  /** The current mapping, or null when unmapped. */
  readonly mapping: MappingState | null;
  /**
   * An invalidate arrived since `mapping` was made: the importer may no
   * longer start DMA through it and must unmap (kernel-model §1.3).
   */
  readonly invalidated: boolean;
}

/**
 * `dma_buf_attach_revocable()`: dynamic with an invalidation callback
 * (kernel-model §1.3), i.e. the importer promises to unmap in bounded time.
 *
 * @param a - the attachment.
 * @returns true when revocable.
 * @kernel drivers/dma-buf/dma-buf.c dma_buf_attach_revocable
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { attachRevocable, boot, mustAtt, referenceMachine, step } from "@dmabuf-ref/core";
 *
 * // The reference importer has invalidate_mappings: a dynamic attachment is revocable.
 * const m = referenceMachine();
 * const args = { size: 0x4000 };
 * const exp = step(m, boot(m), { kind: "export", exporter: "ref-exporter", owner: "exp0", args });
 * assert.ok(exp.status === "done" && exp.created !== undefined);
 * const attach = {
 *   kind: "attach",
 *   buf: exp.created,
 *   importer: "ref-importer",
 *   device: "dev0",
 * } as const;
 * const dynamic = step(m, exp.world, { ...attach, dynamic: true });
 * const pinned = step(m, exp.world, { ...attach, dynamic: false });
 * assert.equal(attachRevocable(mustAtt(dynamic.world, 1)), true);
 * assert.equal(attachRevocable(mustAtt(pinned.world, 1)), false);
 * ```
 * @category Lifetime
 */
export function attachRevocable(a: AttachmentState): boolean {
  return a.dynamic && a.hasInvalidate;
}

/**
 * Canonical encoding of an {@link AttachmentState}.
 *
 * @category Codecs
 */
export const attachmentCodec: Codec<AttachmentState> = {
  seed: 0xa77a,
  encode(a, out) {
    out.push(a.buf);
    pushString(out, a.importer);
    pushOptionalString(out, a.device);
    out.push(
      (a.dynamic ? 1 : 0) |
        (a.peer2peer ? 2 : 0) |
        (a.hasInvalidate ? 4 : 0) |
        (a.invalidated ? 8 : 0),
    );
    out.push(a.pins);
    pushString(out, a.mapType);
    pushString(out, a.exporterType);
    pushOptionalString(out, a.converter);
    encodedCodec.encode(a.importerData, out);
    if (a.mapping === null) {
      out.push(0);
    } else {
      out.push(1, a.mapping.grants.length, ...a.mapping.grants, a.mapping.iova.length);
      for (const r of a.mapping.iova) {
        out.push(r.domain);
        pushU64(out, r.iova);
        pushU64(out, r.len);
      }
      encodedCodec.encode(a.mapping.payload, out);
    }
  },
};
