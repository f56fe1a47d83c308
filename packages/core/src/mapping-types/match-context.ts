/**
 * What a mapping type's `match()` may ask about the machine, the model's
 * stand-in for the kernel helpers a match callback calls.
 *
 * @remarks
 * kernel-model §4.3: the SGT match calls `pci_p2pdma_distance(exp dev, imp dev)`
 * and accepts only a distance >= 0. The fabric (a later issue) provides the
 * real topology; negotiation alone uses {@link p2pTopology}.
 * @category Mapping types
 */
export interface MatchContext {
  /**
   * `pci_p2pdma_distance(provider, client)`: a non-negative distance when the
   * client can reach the provider's MMIO peer to peer, negative when not.
   *
   * @param provider - the device whose BAR is the P2P provider.
   * @param client - the device that would issue the DMA.
   */
  p2pDistance(provider: string, client: string): number;
}

/**
 * One measured P2P distance between a provider and a client device.
 *
 * @category Mapping types
 */
export interface P2PDistance {
  /** The device whose MMIO is exported (the p2pdma provider). */
  readonly provider: string;
  /** The importing device that would DMA to it. */
  readonly client: string;
  /** `pci_p2pdma_distance()`: >= 0 reachable, < 0 unreachable. */
  readonly distance: number;
}

/**
 * A {@link MatchContext} from a list of distances. A device reaches itself at
 * distance 0; any pair not listed is unreachable (-1), as
 * `pci_p2pdma_distance()` answers for devices with no common upstream bridge.
 *
 * @param distances - the measured pairs.
 * @returns the context.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { p2pTopology } from "@dmabuf-ref/core";
 *
 * // vfio0 and nic0 share a PCIe switch; the GPU is behind another root port.
 * const ctx = p2pTopology([{ provider: "vfio0", client: "nic0", distance: 2 }]);
 * assert.equal(ctx.p2pDistance("vfio0", "nic0"), 2);
 * assert.equal(ctx.p2pDistance("vfio0", "vfio0"), 0);
 * assert.equal(ctx.p2pDistance("vfio0", "gpu0"), -1);
 * ```
 * @category Mapping types
 */
export function p2pTopology(distances: readonly P2PDistance[] = []): MatchContext {
  const table = new Map<string, number>();
  for (const d of distances) table.set(`${d.provider}\u0000${d.client}`, d.distance);
  return {
    p2pDistance(provider, client) {
      if (provider === client) return 0;
      return table.get(`${provider}\u0000${client}`) ?? -1;
    },
  };
}
