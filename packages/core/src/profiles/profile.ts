import type * as z from "zod";
import type { AnyMappingType } from "../mapping-types/define.js";
import type { Converter } from "../negotiation/converter.js";

/**
 * The version-dependent rules of dma-buf core a profile switches, each one
 * a kernel fact or a proposal's choice. What a version changes in one
 * driver (VFIO's pin, iommufd's pin, KVM's memslot flag) is that driver's
 * option in {@link Profile.drivers}, not a core rule.
 *
 * @category Profiles
 */
export interface ProfileRules {
  /**
   * Name of the importer's invalidation callback in `dma_buf_attach_ops`:
   * `move_notify` before 7.1, `invalidate_mappings` from 7.1 (kernel-model §1.2).
   */
  readonly invalidateCallback: "move_notify" | "invalidate_mappings";
  /**
   * CONFIG_DMABUF_MOVE_NOTIFY in effect. When false (6.19 default), dynamic
   * importers are not move-capable, so pin-on-map applies to them too and
   * movable exporters pin instead of moving (kernel-model §1.2, §1.3).
   */
  readonly dynamicImportersMoveCapable: boolean;
  /** `dma_buf_attach_revocable()` exists and exporters may refuse on it (kernel-model §1.3). */
  readonly attachRevocable: boolean;
}

/**
 * The ids of the built-in profiles.
 *
 * @category Profiles
 */
export type ProfileId =
  | "linux-6.19"
  | "linux-7.1.0"
  | "linux-7.1"
  | "linux-7.2"
  | "rfc-mapping-types-v1"
  | "proposal-converters"
  | "proposal-vfio-dmabuf-mmap";

/**
 * A profile: one proposal (or released kernel) stated as data, so the same
 * scenario can be run under two of them and compared (DESIGN §3.4).
 *
 * @category Profiles
 */
export interface Profile {
  /** Stable id, e.g. `"linux-7.1"`. */
  readonly id: string;
  /** A short title. */
  readonly title: string;
  /** What the profile is, in two or three sentences. */
  readonly summary: string;
  /** The kernel-model sections this profile encodes. */
  readonly kernelModel: readonly string[];
  /**
   * The mainline commits (12-digit ids) whose behaviour this profile
   * encodes, e.g. `"d97708701434"` (close cleans up dma-bufs before it
   * disables the function). Empty for a kernel that predates every fix the
   * model distinguishes; a proposal lists the commits of the kernel it is
   * based on (a series under review has no commit).
   */
  readonly commits: readonly string[];
  /**
   * Whether `dma_buf_mapping_attach()` negotiation exists. `"none"`: only
   * the legacy path, which the model runs as negotiation over the one SGT
   * type (kernel-model §4.2: `dma_buf_attach` passes a single SGT entry).
   */
  readonly negotiation: "none" | "mapping-types";
  /** The mapping types that exist; an offer or accept of any other type is refused. */
  readonly mappingTypes: readonly AnyMappingType[];
  /** The converters core provides. */
  readonly converters: readonly Converter[];
  /** The version-dependent rules of dma-buf core. */
  readonly rules: ProfileRules;
  /**
   * What the profile says of each driver, keyed by driver (`"vfio-pci"`,
   * `"iommufd"`, `"kvm"`, `"rdma"`): plain data that the driver validates
   * with its own schema ({@link driverOptions}); core reads none of it.
   */
  readonly drivers: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** What each driver offers or accepts under this profile, in words. */
  readonly notes: readonly string[];
}

/**
 * A profile as written: {@link Profile} with `commits` optional (default none).
 *
 * @category Profiles
 */
export type ProfileInput = Omit<Profile, "commits"> & {
  /** {@link Profile.commits}; absent means none. */
  readonly commits?: readonly string[];
};

/**
 * Defines a profile, checking that every converter joins types that exist in
 * it and that every commit id is a 12-digit abbreviated hash.
 *
 * @param input - the profile's data (`commits` defaults to none).
 * @returns the frozen profile.
 * @throws when a converter names a type the profile lacks (a model bug).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defineProfile, linux71, palToSgt } from "@dmabuf-ref/core";
 *
 * // A what-if profile: linux-7.1's rules under a name of its own.
 * const p = defineProfile({ ...linux71, id: "what-if", title: "linux-7.1, renamed" });
 * assert.equal(p.id, "what-if");
 * assert.deepEqual(p.commits, linux71.commits);
 * assert.ok(Object.isFrozen(p));
 * // linux-7.1 has no PAL type, so the PAL->SGT converter cannot join it.
 * const bad = { ...linux71, id: "bad", converters: [palToSgt] };
 * assert.throws(() => defineProfile(bad), /needs type pal/);
 * ```
 * @category Profiles
 */
export function defineProfile(input: ProfileInput): Profile {
  const profile: Profile = { ...input, commits: input.commits ?? [] };
  for (const c of profile.commits) {
    if (!/^[0-9a-f]{12}$/.test(c)) {
      throw new Error(`profile ${profile.id}: commit ${c} is not a 12-digit abbreviated hash`);
    }
  }
  for (const c of profile.converters) {
    for (const t of [c.from, c.to]) {
      if (!profile.mappingTypes.includes(t)) {
        throw new Error(`profile ${profile.id}: converter ${c.id} needs type ${t.id}`);
      }
    }
  }
  return Object.freeze({
    ...profile,
    commits: Object.freeze([...profile.commits]),
    rules: Object.freeze({ ...profile.rules }),
    drivers: Object.freeze({ ...profile.drivers }),
  });
}

/**
 * A driver's options under a profile, validated by the driver's own schema:
 * how a driver reads what a kernel version or proposal changes in it.
 *
 * @param profile - the profile in force.
 * @param driver - the driver's key in {@link Profile.drivers}.
 * @param schema - the driver's schema for its options.
 * @returns the options.
 * @throws when the profile states no valid options for the driver (a
 *   profile written without this driver in mind: a configuration bug).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as z from "zod";
 * import { driverOptions, linux619, linux71 } from "@dmabuf-ref/core";
 *
 * // How KVM reads its option: may it import dma-bufs under this profile?
 * const kvmOptions = z.object({ dmabufImport: z.boolean() });
 * assert.deepEqual(driverOptions(linux71, "kvm", kvmOptions), { dmabufImport: false });
 * assert.throws(() => driverOptions(linux619, "no-such-driver", kvmOptions));
 * ```
 * @category Profiles
 */
export function driverOptions<S extends z.ZodType>(
  profile: Profile,
  driver: string,
  schema: S,
): z.output<S> {
  const r = schema.safeParse(profile.drivers[driver]);
  if (!r.success) {
    throw new Error(
      `profile ${profile.id} states no valid options for ${driver}: ${r.error.issues[0]?.message ?? ""}`,
    );
  }
  return r.data;
}
