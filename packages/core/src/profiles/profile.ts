import type { AnyMappingType } from "../mapping-types/define.js";
import type { Converter } from "../negotiation/converter.js";

/**
 * The version-dependent rules a profile switches, each one a kernel fact or
 * a proposal's choice. Drivers read these instead of testing profile names,
 * so a new profile is data, not code.
 */
export interface ProfileRules {
  /**
   * Name of the importer's invalidation callback in `dma_buf_attach_ops`:
   * `move_notify` before 7.1, `invalidate_mappings` from 7.1 (kernel-facts §1.2).
   */
  readonly invalidateCallback: "move_notify" | "invalidate_mappings";
  /**
   * CONFIG_DMABUF_MOVE_NOTIFY in effect. When false (6.19 default), dynamic
   * importers are not move-capable, so pin-on-map applies to them too and
   * movable exporters pin instead of moving (kernel-facts §1.2, §1.3).
   */
  readonly dynamicImportersMoveCapable: boolean;
  /** `dma_buf_attach_revocable()` exists and exporters may refuse on it (kernel-facts §1.3). */
  readonly attachRevocable: boolean;
  /**
   * VFIO's `pin`: the 6.19-rc always-failing pin (`-EOPNOTSUPP`), or the 7.1
   * no-op after "vfio: Permit VFIO to work with pinned importers" (kernel-facts §2.4).
   */
  readonly vfioPin: "eopnotsupp" | "noop";
  /** VFIO's `attach` refuses `!dma_buf_attach_revocable()` with `-EOPNOTSUPP` (kernel-facts §2.3). */
  readonly vfioRefusesNonRevocable: boolean;
  /**
   * VFIO's revoke waits for every importer unmap ("vfio: Wait for dma-buf
   * invalidation to complete", kernel-facts §1.3, §2.5).
   */
  readonly vfioWaitsForUnmap: boolean;
  /** iommufd calls `dma_buf_pin()` in `iopt_map_dmabuf` ("iommufd: Add dma_buf_pin()", kernel-facts §3.3). */
  readonly iommufdPins: boolean;
  /** Matt Evans' series: VFIO dma-bufs can be mmap()ed, revoke zaps them (kernel-facts §2.6). */
  readonly vfioDmabufMmap: boolean;
  /** Xu Yilun's series: KVM memslots backed by a dma-buf, `KVM_MEM_VFIO_DMABUF` (kernel-facts §5.1). */
  readonly kvmDmabufImport: boolean;
  /** Jacob Moroni's pinned-revocable RDMA import interface (kernel-facts §5.2). */
  readonly rdmaPinnedRevocable: boolean;
}

/** The ids of the built-in profiles. */
export type ProfileId = "linux-6.19" | "linux-7.1" | "rfc-mapping-types-v1" | "proposal-converters";

/**
 * A profile: one proposal (or released kernel) stated as data, so the same
 * scenario can be run under two of them and compared (DESIGN §3.4).
 */
export interface Profile {
  /** Stable id, e.g. `"linux-7.1"`. */
  readonly id: string;
  /** A short title. */
  readonly title: string;
  /** What the profile is, in two or three sentences. */
  readonly summary: string;
  /** The kernel-facts sections this profile encodes. */
  readonly kernelFacts: readonly string[];
  /**
   * Whether `dma_buf_mapping_attach()` negotiation exists. `"none"`: only
   * the legacy path, which the model runs as negotiation over the one SGT
   * type (kernel-facts §4.2: `dma_buf_attach` passes a single SGT entry).
   */
  readonly negotiation: "none" | "mapping-types";
  /** The mapping types that exist; an offer or accept of any other type is refused. */
  readonly mappingTypes: readonly AnyMappingType[];
  /** The converters core provides. */
  readonly converters: readonly Converter[];
  /** The version-dependent rules. */
  readonly rules: ProfileRules;
  /** What each driver offers or accepts under this profile, in words. */
  readonly notes: readonly string[];
}

/**
 * Defines a profile, checking that every converter joins types that exist in
 * it.
 *
 * @param profile - the profile's data.
 * @returns the frozen profile.
 * @throws when a converter names a type the profile lacks (a model bug).
 */
export function defineProfile(profile: Profile): Profile {
  for (const c of profile.converters) {
    for (const t of [c.from, c.to]) {
      if (!profile.mappingTypes.includes(t)) {
        throw new Error(`profile ${profile.id}: converter ${c.id} needs type ${t.id}`);
      }
    }
  }
  return Object.freeze({ ...profile, rules: Object.freeze({ ...profile.rules }) });
}
