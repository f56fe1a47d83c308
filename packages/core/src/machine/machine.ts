import type { Result } from "../errors/result.js";
import type { Topology } from "../fabric/topology.js";
import type * as z from "zod";
import type { Op } from "../lifetime/op.js";
import type { StepOutcome } from "../lifetime/outcome.js";
import { CORE_OP_KINDS } from "../lifetime/op.js";
import type { ExporterOffer, ImporterAccept } from "../negotiation/offer.js";
import type { Profile } from "../profiles/profile.js";
import type { MappingState } from "../world/attachment-state.js";
import type { Effect } from "../world/effect.js";
import type { SliceDef } from "../world/driver-slice.js";
import { SLICES_PER_DRIVER } from "../world/driver-slice.js";
import { createWorld } from "../world/world.js";
import { MM_DRIVER } from "../mm/layout.js";
import type { World } from "../world/world.js";

/**
 * What never changes while a system runs (DESIGN §2a): the profile in
 * force, the hardware (topology) and the drivers bound to it with their
 * configuration. A machine is passed beside the {@link World} to every
 * function that needs it (`step(m, machine, world, op)`), the way xstate's
 * `transition(logic, snapshot, event)` keeps the logic apart from the
 * state: the World stays a plain value that hashes and compares, and no
 * type of core's state needs a driver.
 *
 * @category Drivers
 */
export interface Machine {
  /** The rule set in force. */
  readonly profile: Profile;
  /** The static hardware: regions, devices, switches, host bridges. */
  readonly topology: Topology;
  /** Exporter drivers (`struct dma_buf_ops` providers) by name. */
  readonly exporters: ReadonlyMap<string, ExporterDriver>;
  /** Importer drivers (`struct dma_buf_attach_ops` providers) by name. */
  readonly importers: ReadonlyMap<string, ImporterDriver>;
  /**
   * Every driver op of the machine by name: the drivers that register it,
   * in the order the description lists them (a plain op names its driver
   * when there are several, e.g. two RDMA importers' `ib_umem_release`).
   */
  readonly driverOps: ReadonlyMap<string, readonly OpProvider[]>;
  /**
   * Where each driver's declared slices live in `World.drivers`: by driver
   * name, the table id of each of its {@link SliceDef}s (driver index x 16
   * plus the slice's position in the driver's `slices`).
   */
  readonly sliceSlots: ReadonlyMap<string, ReadonlyMap<SliceDef<unknown>, number>>;
}

/**
 * A driver that registers a driver op, and the op.
 *
 * @category Drivers
 */
export interface OpProvider {
  /** The driver instance's name. */
  readonly driver: string;
  /** The op. */
  readonly def: DriverOp;
}

/**
 * A function one driver exports to named modules only
 * (`EXPORT_SYMBOL_FOR_MODULES` and the importer's `symbol_get()`): the key
 * both sides name it by, which modules may call it, and the schema of what
 * it returns (checked at every call, so the caller gets a typed value).
 * Define one with `defineSymbol` where both drivers can see it.
 *
 * @typeParam S - the schema of the result.
 *
 * @category Drivers
 */
export interface DriverSymbol<S extends z.ZodType = z.ZodType> {
  /** The kernel symbol's name. */
  readonly name: string;
  /** The modules it is exported to (`EXPORT_SYMBOL_FOR_MODULES`). */
  readonly modules: readonly string[];
  /** What a call returns on success. */
  readonly result: S;
}

/**
 * An exporter's implementation of a {@link DriverSymbol}, for one attachment.
 *
 * @category Drivers
 */
export interface ProvidedSymbol {
  /** The symbol's name. */
  readonly name: string;
  /**
   * Runs it for an attachment (the caller holds the buffer's resv).
   *
   * @param m - the machine.
   * @param world - the current world.
   * @param att - the attachment id.
   */
  call(m: Machine, world: World, att: number): Result<unknown>;
}

/**
 * What an exporter or importer callback returns on success: the new world and what it did.
 *
 * @category Drivers
 */
export type DriverStep = Effect;

/**
 * What an exporter's export path returns: the change and the new buffer's id.
 *
 * @category Drivers
 */
export interface ExportStep extends Effect {
  /** The new dma-buf's id. */
  readonly buf: number;
}

/**
 * What an exporter's map returns: the payload and the grants it created.
 *
 * @category Drivers
 */
export interface MapStep extends DriverStep {
  /** The mapping handed to the importer. */
  readonly mapping: MappingState;
}

/**
 * An exporter driver: the model of `struct dma_buf_ops` (kernel-model §1.1)
 * as pure functions of the machine and the World. Exporters meet importers
 * only through these callbacks and core, never directly (DESIGN §2).
 *
 * @kernel include/linux/dma-buf.h dma_buf_ops
 *
 * @category Drivers
 */
export interface ExporterDriver {
  /** The driver's name, e.g. "vfio-pci" (the key in the machine's exporters). */
  readonly name: string;
  /**
   * Creates a buffer from driver-specific arguments (the driver's export
   * path ending in `dma_buf_export()`), for an `export` op.
   *
   * @param m - the machine.
   * @param world - the current world.
   * @param owner - the exporting device or instance name.
   * @param args - driver-specific arguments, validated by the driver.
   */
  export?(m: Machine, world: World, owner: string, args: unknown): Result<ExportStep>;
  /**
   * Whether the revoke sequence ends by waiting for every importer to unmap
   * (the completion of "vfio: Wait for dma-buf invalidation to complete",
   * kernel-model §1.3). Absent: it waits.
   *
   * @param m - the machine.
   */
  revokeWaitsForUnmap?(m: Machine): boolean;
  /**
   * `match_mapping`: the offers for one buffer, in priority order. A legacy
   * exporter returns one SGT offer (`map_dma_buf`).
   *
   * @param m - the machine.
   * @param world - the current world.
   * @param buf - the dma-buf id.
   * @kernel dma_buf_ops.match_mapping
   */
  offers(m: Machine, world: World, buf: number): readonly ExporterOffer[];
  /**
   * `ops->attach`: may refuse the new attachment (already in the world) with
   * an errno, e.g. VFIO's `-EOPNOTSUPP` without P2P or `-ENODEV` when revoked.
   *
   * @param m - the machine.
   * @param world - the world with the attachment added.
   * @param att - the attachment id.
   * @kernel include/linux/dma-buf.h dma_buf_ops.attach
   */
  attach?(m: Machine, world: World, att: number): Result<DriverStep>;
  /**
   * `ops->detach`.
   *
   * @param m - the machine.
   * @param world - the current world.
   * @param att - the attachment id.
   * @kernel include/linux/dma-buf.h dma_buf_ops.detach
   */
  detach?(m: Machine, world: World, att: number): DriverStep;
  /**
   * `ops->pin`; absent means pinning is supported and a no-op
   * (`dma_buf_pin()` returns 0, kernel-model §1.1).
   *
   * @param m - the machine.
   * @param world - the current world.
   * @param att - the attachment id.
   * @kernel include/linux/dma-buf.h dma_buf_ops.pin
   */
  pin?(m: Machine, world: World, att: number): Result<DriverStep>;
  /**
   * `ops->unpin`.
   *
   * @param m - the machine.
   * @param world - the current world.
   * @param att - the attachment id.
   * @kernel include/linux/dma-buf.h dma_buf_ops.unpin
   */
  unpin?(m: Machine, world: World, att: number): DriverStep;
  /**
   * `map_dma_buf` (or the negotiated type's map op): builds the payload of
   * `attach.mapType` for the attachment's device.
   *
   * @param m - the machine.
   * @param world - the current world.
   * @param att - the attachment id.
   * @kernel include/linux/dma-buf.h dma_buf_ops.map_dma_buf
   */
  map(m: Machine, world: World, att: number): Result<MapStep>;
  /**
   * `unmap_dma_buf`: tears down what map built (IOMMU mappings, grants).
   *
   * @param m - the machine.
   * @param world - the current world.
   * @param att - the attachment id.
   * @param mapping - the mapping being torn down.
   * @kernel include/linux/dma-buf.h dma_buf_ops.unmap_dma_buf
   */
  unmap(m: Machine, world: World, att: number, mapping: MappingState): DriverStep;
  /**
   * Functions this driver exports to named modules only
   * (`EXPORT_SYMBOL_FOR_MODULES`), such as VFIO's
   * `vfio_pci_dma_buf_iommufd_map` for iommufd: a private interconnect
   * between two drivers that core carries but does not know. Absent: none.
   */
  readonly symbols?: readonly ProvidedSymbol[];
  /**
   * The driver's private state, as typed slices with their codecs
   * (`defineSlice`, `tableSlice`), read and written with `readSlice` and
   * `writeSlice`. Absent: the driver keeps no state of its own.
   */
  readonly slices?: readonly SliceDef<unknown>[];
  /**
   * `dma_buf_ops.mmap` as `dma_buf_mmap_internal()` reaches it, for the mm
   * model's `mmap` of a dma-buf fd: the exporter's own checks of the VMA
   * only (core already checked the window against `dmabuf->size`; mm
   * records the `VM_PFNMAP` VMA and its file reference). Absent: the buffer
   * has no mmap op, and `dma_buf_mmap_internal()` answers `EINVAL`.
   *
   * @param m - the machine.
   * @param world - the current world.
   * @param buf - the dma-buf id.
   * @param req - the mapping process, the byte offset into the buffer and the length (whole pages).
   * @kernel include/linux/dma-buf.h dma_buf_ops.mmap
   */
  mmap?(
    m: Machine,
    world: World,
    buf: number,
    req: {
      /** The mapping process. */
      readonly process: string;
      /** Byte offset into the buffer (`vm_pgoff << PAGE_SHIFT`). */
      readonly offset: bigint;
      /** Bytes (whole pages). */
      readonly length: bigint;
    },
  ): Result<undefined>;
  /**
   * The BAR behind an `mmap()` of one of this driver's device fds
   * (`vfio_pci_core_mmap`: the device must be open and the BAR mmappable,
   * `bar_mmap_supported[index]`), for the mm model. Absent, or undefined for
   * a device this driver does not own: mm falls back to the topology's
   * region `<device>.bar<index>`.
   *
   * @param m - the machine.
   * @param world - the current world.
   * @param device - the device named as the fd.
   * @param index - the region index (`vm_pgoff >> (40 - PAGE_SHIFT)`), below 6.
   * @returns the BAR's region name, an errno (`EINVAL`, ...), or undefined.
   */
  mmapRegion?(m: Machine, world: World, device: string, index: number): Result<string> | undefined;
  /**
   * `ops->release`: the last file reference is gone.
   *
   * @param m - the machine.
   * @param world - the current world.
   * @param buf - the dma-buf id.
   * @kernel include/linux/dma-buf.h dma_buf_ops.release
   */
  release(m: Machine, world: World, buf: number): DriverStep;
  /**
   * The next operations the exporter performs on its own: the continuation
   * of a multi-stage driver operation (an FLR resets the function only after
   * its revokes completed, then un-revokes). The scheduler runs them after
   * task steps; the explorer interleaves them.
   *
   * @param m - the machine.
   * @param world - the current world.
   */
  pending?(m: Machine, world: World): readonly Op[];
  /**
   * The ops of this driver's own entry points that could run now, with
   * arguments naming live objects (a VFIO device's FLR, an ioctl on an
   * IOAS that exists), for `candidateOps`. Absent: none.
   *
   * @param m - the machine.
   * @param world - the current world.
   */
  candidates?(m: Machine, world: World): readonly Op[];
  /**
   * The driver's own entry points (an FLR, a memory-disable write, an
   * ioctl on its fd, the next stage of its operation), each a registered
   * op with a schema and a typed handler (`defineDriverOp`). A `driver` op
   * names one of them; `step` validates its fields first. Absent: none.
   */
  readonly ops?: readonly DriverOp[];
}

/**
 * What an importer is asked to accept for: one attach call.
 *
 * @category Drivers
 */
export interface AttachRequest {
  /** The importing DMA device (null for KVM). */
  readonly device: string | null;
  /** `dma_buf_dynamic_attach` (true) or `dma_buf_attach` (false). */
  readonly dynamic: boolean;
  /** `attach->peer2peer`: `allow_peer2peer` when dynamic, false when static. */
  readonly peer2peer: boolean;
}

/**
 * An importer driver: the model of `struct dma_buf_attach_ops`
 * (kernel-model §1.2) plus what the importer accepts and the work it owes.
 *
 * @kernel include/linux/dma-buf.h dma_buf_attach_ops
 *
 * @category Drivers
 */
export interface ImporterDriver {
  /** The driver's name, e.g. "iommufd" (also the module checked by allow-lists). */
  readonly name: string;
  /** `allow_peer2peer`: copes with peer memory that has no struct page. */
  readonly allowPeer2peer: boolean;
  /**
   * The importer's private state, as typed slices (see
   * {@link ExporterDriver.slices}). Absent: none.
   */
  readonly slices?: readonly SliceDef<unknown>[];
  /**
   * The importer's accept list for one attach, in order. A legacy importer
   * returns one SGT accept whose `acceptsP2P` is the attachment's `peer2peer`.
   *
   * @param m - the machine.
   * @param world - the current world.
   * @param request - the importing device and the attach's kind.
   */
  accepts(m: Machine, world: World, request: AttachRequest): readonly ImporterAccept[];
  /**
   * `invalidate_mappings` (`move_notify` before 7.1). Called with the
   * buffer's resv held, after core marked the mapping invalidated. Absent:
   * the importer is not revocable (a pinned importer).
   *
   * @param m - the machine.
   * @param world - the current world.
   * @param att - the attachment id.
   * @kernel include/linux/dma-buf.h dma_buf_attach_ops.invalidate_mappings
   *   dma_buf_attach_ops.move_notify
   */
  invalidateMappings?(m: Machine, world: World, att: number): DriverStep;
  /**
   * The next operations the importer performs on its own, for example the
   * unmap it owes after an invalidate (kernel-model §7.15). The scheduler
   * runs them; the explorer interleaves them.
   *
   * @param m - the machine.
   * @param world - the current world.
   */
  pending?(m: Machine, world: World): readonly Op[];
  /**
   * The ops of this driver's own entry points that could run now, with
   * arguments naming live objects (a VFIO device's FLR, an ioctl on an
   * IOAS that exists), for `candidateOps`. Absent: none.
   *
   * @param m - the machine.
   * @param world - the current world.
   */
  candidates?(m: Machine, world: World): readonly Op[];
  /**
   * The driver's own entry points (an ioctl on its fd, a guest access,
   * a fault, the next stage of its work), each a registered
   * op with a schema and a typed handler (`defineDriverOp`). A `driver` op
   * names one of them; `step` validates its fields first. Absent: none.
   */
  readonly ops?: readonly DriverOp[];
}

/**
 * One entry point a driver adds to the op alphabet (DESIGN §2a): a
 * userspace ioctl on the driver's fd, a hardware event at its device, or
 * the next stage of its own multi-stage operation. A driver registers each
 * with the zod schema of its fields and a typed handler; core's `step`
 * validates the fields against the schema before the handler runs, so no
 * driver ever sees an unvalidated `unknown`, and a malformed op fails with
 * `EINVAL` and the world unchanged.
 *
 * The op's plain form is `{ op: name, driver?, ...fields }` (`parseOp`):
 * `driver` may be left out when only one driver of the machine has the name.
 *
 * @typeParam A - the handler's validated arguments.
 * @typeParam I - the fields as written (before defaults and transforms).
 *
 * @category Drivers
 */
export interface DriverOp<A = unknown, I = unknown> {
  /** The op's name: its plain form's `op` (an ioctl by its kernel name, or an event). */
  readonly name: string;
  /** The kernel function, ioctl or event it models, for listings and errors. */
  readonly models: string;
  /** The schema of the op's fields (everything but `op` and `driver`). */
  readonly schema: z.ZodType<A, I>;
  /**
   * Runs the op. A method, so a table of ops of different argument types
   * is one array.
   *
   * @param m - the machine.
   * @param world - the current world.
   * @param args - the validated fields.
   * @param self - the name of the driver instance it runs on.
   * @returns done, an errno with the world unchanged, or blocked.
   */
  run(m: Machine, world: World, args: A, self: string): StepOutcome;
}

/**
 * Builds a machine from its parts: the profile, the topology and the
 * drivers bound to it. A driver is named once; a test, a contract suite or
 * a user module substitutes one by passing its own in its place.
 *
 * @param desc - profile, topology and the drivers, exporters and importers apart.
 * @returns the machine.
 * @throws when two drivers share a name, a driver registers an op twice
 *   or under a core op's name (description bugs).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   defineMachine,
 *   linux71,
 *   referenceExporter,
 *   referenceImporter,
 *   referenceTopology,
 * } from "@dmabuf-ref/core";
 *
 * const parts = { profile: linux71, topology: referenceTopology };
 * const m = defineMachine({
 *   ...parts,
 *   exporters: [referenceExporter({ region: "ram0" })],
 *   importers: [referenceImporter(), referenceImporter({ name: "gpu1" })],
 * });
 * // both importers register submit and release: a plain op names its driver
 * assert.deepEqual(
 *   m.driverOps.get("submit")?.map((p) => p.driver),
 *   ["ref-importer", "gpu1"],
 * );
 * assert.throws(
 *   () =>
 *     defineMachine({
 *       ...parts,
 *       exporters: [],
 *       importers: [referenceImporter(), referenceImporter()],
 *     }),
 *   /named twice/,
 * );
 * ```
 *
 * @category Drivers
 */
export function defineMachine(desc: {
  readonly profile: Profile;
  readonly topology: Topology;
  readonly exporters: readonly ExporterDriver[];
  readonly importers: readonly ImporterDriver[];
}): Machine {
  const names = new Set<string>();
  for (const d of [...desc.exporters, ...desc.importers]) {
    // The built-in mm driver (process memory) is every machine's: no driver may take its name.
    if (d.name === MM_DRIVER) throw new Error(`machine: ${MM_DRIVER} is the built-in mm driver`);
    if (names.has(d.name)) throw new Error(`machine: driver ${d.name} is named twice`);
    names.add(d.name);
  }
  const core = new Set<string>(CORE_OP_KINDS);
  const driverOps = new Map<string, OpProvider[]>();
  for (const d of [...desc.exporters, ...desc.importers]) {
    const own = new Set<string>();
    for (const def of d.ops ?? []) {
      if (core.has(def.name)) throw new Error(`machine: ${d.name} op ${def.name} is a core op`);
      if (own.has(def.name)) throw new Error(`machine: ${d.name} registers ${def.name} twice`);
      own.add(def.name);
      driverOps.set(def.name, [...(driverOps.get(def.name) ?? []), { driver: d.name, def }]);
    }
  }
  const sliceSlots = new Map<string, Map<SliceDef<unknown>, number>>();
  [...desc.exporters, ...desc.importers].forEach((d, index) => {
    const slices = d.slices ?? [];
    if (slices.length > SLICES_PER_DRIVER)
      throw new Error(`machine: ${d.name} declares more than ${SLICES_PER_DRIVER} slices`);
    sliceSlots.set(d.name, new Map(slices.map((def, i) => [def, index * SLICES_PER_DRIVER + i])));
  });
  return Object.freeze({
    driverOps,
    sliceSlots,
    profile: desc.profile,
    topology: desc.topology,
    exporters: new Map(desc.exporters.map((d) => [d.name, d])),
    importers: new Map(desc.importers.map((d) => [d.name, d])),
  });
}

/**
 * The world a machine boots into: its topology's regions live and every
 * device behind an IOMMU in its own empty DMA-API domain, no dma-buf yet.
 *
 * @param m - the machine.
 * @returns the initial world.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine } from "@dmabuf-ref/core";
 *
 * const w = boot(referenceMachine());
 * assert.equal(w.bufs.size, 0);
 * assert.deepEqual(
 *   [...w.regions.values()].map((r) => [r.id, r.status]),
 *   [["ram0", "live"]],
 * );
 * ```
 *
 * @category Drivers
 */
export function boot(m: Machine): World {
  return createWorld(m.topology);
}
