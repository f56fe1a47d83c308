import type { Codec, DmaBufState, Encoded, PhysVec, World } from "@dmabuf-ref/core";
import {
  arrayCodec,
  decodedWith,
  encodedWith,
  intCodec,
  mustBuf,
  nullableCodec,
  physVecCodec,
  recordCodec,
  stringCodec,
} from "@dmabuf-ref/core";
import { idsInGroup } from "@dmabuf-ref/core/encoding";
import type { VfioPciConfig } from "./config.js";

/**
 * `struct vfio_pci_dma_buf` (kernel-facts §2.3), the exporter's `dmabuf->priv`:
 * what VFIO remembers about one exported buffer. The `revoked` state is
 * core's {@link DmaBufState.revoked}; the kref and completion are implicit in
 * core's revoke task, which waits for every mapping to be unmapped.
 */
export interface VfioDmaBufPriv {
  /** `priv->vdev`: the device, or null after `vfio_pci_dma_buf_cleanup()` (only once revoked for good). */
  readonly vdev: string | null;
  /** The BAR the ranges lie in. */
  readonly bar: number;
  /** `priv->phys_vec[]`: CPU physical ranges, in the order userspace gave them. */
  readonly phys: readonly PhysVec[];
  /** `priv->provider`: the p2pdma provider (the exporting PCI function). */
  readonly provider: string;
  /** `priv->nr_ranges`. */
  readonly nrRanges: number;
  /** `open_flags` passed to `dma_buf_export()` and `dma_buf_fd()`. */
  readonly openFlags: number;
}

/** How a {@link VfioDmaBufPriv} is stored in the World (`dmabuf->priv`). */
export const vfioDmaBufPrivCodec: Codec<VfioDmaBufPriv> = recordCodec<VfioDmaBufPriv>(
  "vfio_pci_dma_buf",
  {
    vdev: nullableCodec(stringCodec),
    bar: intCodec,
    phys: arrayCodec(physVecCodec),
    provider: stringCodec,
    nrRanges: intCodec,
    openFlags: intCodec,
  },
);

/**
 * VFIO private data as `dma_buf_export()` stores it.
 *
 * @param priv - the private data.
 * @returns it, with its codec.
 */
export function vfioPriv(priv: VfioDmaBufPriv): Encoded<VfioDmaBufPriv> {
  return encodedWith(vfioDmaBufPrivCodec, priv);
}

/**
 * The VFIO private data of a buffer (a buffer of another exporter is a bug).
 *
 * @param w - the world.
 * @param buf - the dma-buf id.
 * @returns the private data.
 */
export function privOf(w: World, buf: number): VfioDmaBufPriv {
  return decodedWith(mustBuf(w, buf).priv, vfioDmaBufPrivCodec, `dma-buf ${buf}'s VFIO priv`);
}

/**
 * Replaces a buffer's private data.
 *
 * @param w - the world.
 * @param buf - the dma-buf id.
 * @param priv - the new private data.
 * @returns the new world.
 */
export function withPriv(w: World, buf: number, priv: VfioDmaBufPriv): World {
  const b = mustBuf(w, buf);
  return { ...w, bufs: w.bufs.set(buf, { ...b, priv: vfioPriv(priv) }) };
}

/**
 * `vdev->dmabufs`: the live buffers (file not yet released) this driver
 * exported for a device that still point at it, in id order.
 *
 * @param w - the world.
 * @param config - the driver's configuration.
 * @param device - the device id.
 * @returns buffer ids and states.
 */
export function buffersOf(
  w: World,
  config: VfioPciConfig,
  device: string,
): [number, DmaBufState][] {
  const out: [number, DmaBufState][] = [];
  // The exporter's own buffers, in id order, through the buffer table's index.
  for (const id of idsInGroup(w.bufs.index.byExporter, config.name)) {
    const b = w.bufs.get(id);
    if (b === undefined || b.released) continue;
    if (privOf(w, id).vdev === device) out.push([id, b]);
  }
  return out;
}
