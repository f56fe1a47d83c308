import { readSlice, tableSlice, writeSlice } from "@dmabuf-ref/core";
import { pushString, pushU64 } from "@dmabuf-ref/core/encoding";
import type { Codec, Machine, SliceDef, World } from "@dmabuf-ref/core";
import type { PTable } from "@dmabuf-ref/core/encoding";
import type { RdmaImporterName } from "./constants.js";

/**
 * One `struct ib_umem_dmabuf` (drivers/infiniband/core/umem_dmabuf.c,
 * kernel-model §5.2): the attachment and the umem's window of the dma-buf.
 *
 * @kernel include/rdma/ib_umem.h ib_umem_dmabuf
 * @category Drivers
 */
export interface RdmaUmem {
  /** The attachment (`umem_dmabuf->attach`). */
  readonly att: number;
  /** The dma-buf id. */
  readonly buf: number;
  /** The NIC's DMA device (`device->dma_device`). */
  readonly device: string;
  /** Byte offset of the umem in the dma-buf. */
  readonly offset: bigint;
  /** Byte length of the umem. */
  readonly size: bigint;
  /** `umem_dmabuf->pinned`: the umem holds a `dma_buf_pin()`. */
  readonly pinned: boolean;
  /** `umem_dmabuf->revoked` (pinned-revocable only): revoked for good. */
  readonly revoked: boolean;
}

/**
 * Canonical encoding of an {@link RdmaUmem}: attachment, buffer, device
 * name, window, then the pinned and revoked bits.
 */
export const rdmaUmemCodec: Codec<RdmaUmem> = {
  seed: 0x0e3d,
  encode(u, out) {
    out.push(u.att, u.buf);
    pushString(out, u.device);
    pushU64(out, u.offset);
    pushU64(out, u.size);
    out.push((u.pinned ? 1 : 0) | (u.revoked ? 2 : 0));
  },
};

/**
 * One RDMA importer's slice of the World: its `ib_umem_dmabuf`s
 * (kernel-model §5.2), a table keyed by the umem's attachment id
 * (`umem_dmabuf->attach`). The three RDMA importers are instances of one
 * implementation: each declares this same slice, which the machine keeps
 * apart by driver name.
 *
 * @category Drivers
 */
export const rdmaUmemsSlice: SliceDef<PTable<RdmaUmem>> = tableSlice("umems", rdmaUmemCodec);

/**
 * One RDMA importer's umems in a world, by attachment id (empty before its first).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param importer - the importer's name.
 * @returns the table.
 */
export function rdmaUmems(m: Machine, w: World, importer: RdmaImporterName): PTable<RdmaUmem> {
  return readSlice(m, w, importer, rdmaUmemsSlice);
}

/**
 * One RDMA importer's slice of the World as a list: its `ib_umem_dmabuf`s (kernel-model §5.2).
 *
 * @category Drivers
 */
export interface RdmaState {
  /** The live umems, by attachment id. */
  readonly umems: readonly RdmaUmem[];
}

/**
 * One RDMA importer's state in a world as a list (empty before its first
 * umem; kernel-model §5.2), for tests and the CLI; the driver itself reads
 * its `umems` slice, a table by attachment id.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param importer - the importer's name.
 * @returns the state.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine, runScript } from "@dmabuf-ref/core";
 * import { rdmaPinnedImporter, rdmaStateOf } from "@dmabuf-ref/importers";
 *
 * const m = referenceMachine({ importers: [rdmaPinnedImporter()] });
 * assert.deepEqual(rdmaStateOf(m, boot(m), "rdma-pinned").umems, []);
 * // An MR over the dma-buf's second and third pages.
 * const get = { op: "ib_umem_dmabuf_get", device: "dev0", fd: 1, offset: 0x1000n, size: 0x2000n };
 * const { world } = runScript(m, boot(m), [
 *   { kind: "export", exporter: "ref-exporter", owner: "gpu", args: { size: 0x4000n } },
 *   { kind: "driver", driver: "rdma-pinned", action: get },
 * ]);
 * assert.deepEqual(rdmaStateOf(m, world, "rdma-pinned").umems, [
 *   { att: 1, buf: 1, device: "dev0", offset: 0x1000n, size: 0x2000n, pinned: true,
 *     revoked: false },
 * ]);
 * ```
 * @category Drivers
 */
export function rdmaStateOf(m: Machine, w: World, importer: RdmaImporterName): RdmaState {
  return { umems: [...rdmaUmems(m, w, importer).values()] };
}

/**
 * The umem of an attachment, if `importer` holds one.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param importer - the importer's name.
 * @param att - the attachment id.
 * @returns the umem or undefined.
 */
export function umemOf(
  m: Machine,
  w: World,
  importer: RdmaImporterName,
  att: number,
): RdmaUmem | undefined {
  return rdmaUmems(m, w, importer).get(att);
}

/**
 * Replaces (by attachment) or adds a umem; `null` removes it.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param importer - the importer's name.
 * @param att - the attachment id.
 * @param umem - the new umem, or null to drop it.
 * @returns the new world.
 */
export function putUmem(
  m: Machine,
  w: World,
  importer: RdmaImporterName,
  att: number,
  umem: RdmaUmem | null,
): World {
  const umems = rdmaUmems(m, w, importer);
  return writeSlice(
    m,
    w,
    importer,
    rdmaUmemsSlice,
    umem === null ? umems.delete(att) : umems.set(att, umem),
  );
}
