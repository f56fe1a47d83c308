import { driverState, setDriverState } from "@dmabuf-ref/core";
import type { Machine, World } from "@dmabuf-ref/core";
import type { RdmaImporterName } from "./constants.js";

/**
 * One `struct ib_umem_dmabuf` (drivers/infiniband/core/umem_dmabuf.c,
 * kernel-facts §5.2): the attachment and the umem's window of the dma-buf.
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

/** One RDMA importer's slice of the World: its `ib_umem_dmabuf`s (kernel-facts §5.2). */
export interface RdmaState {
  /** The live umems, by creation order. */
  readonly umems: readonly RdmaUmem[];
}

const EMPTY: RdmaState = { umems: [] };

/**
 * One RDMA importer's state in a world (empty before its first umem; kernel-facts §5.2).
 *
 * @param m - the machine.
 * @param w - the world.
 * @param importer - the importer's name.
 * @returns the state.
 */
export function rdmaStateOf(m: Machine, w: World, importer: RdmaImporterName): RdmaState {
  return driverState<RdmaState>(m, w, importer, EMPTY);
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
  return rdmaStateOf(m, w, importer).umems.find((u) => u.att === att);
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
  const rest = rdmaStateOf(m, w, importer).umems.filter((u) => u.att !== att);
  const umems = umem === null ? rest : [...rest, umem].sort((a, b) => a.att - b.att);
  return setDriverState(m, w, importer, { umems });
}
