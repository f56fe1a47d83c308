/*
 * What a driver author hands a contract suite: the driver under test on
 * its hardware, and the few entry points the suite cannot know (how a
 * buffer is exported, how a user revokes it, how an importer imports and
 * lets go). Everything else the suite drives through core's op alphabet.
 */
import type {
  AnyMappingType,
  Converter,
  ExporterDriver,
  ImporterDriver,
  Machine,
  MappingState,
  MatchContext,
  Op,
  Profile,
  World,
} from "@dmabuf-ref/core";
import type { ThreadCall } from "./explorer.js";

/**
 * Which cases to leave out: a case id and the reason, printed with the
 * skipped case (`it.skip`), so a reader sees why a rule does not apply
 * (e.g. "a TTM exporter moves its buffers; it never revokes").
 *
 * @category Harnesses
 */
export type Skips = Readonly<Record<string, string>>;

/**
 * The fast-check seed a suite uses unless told otherwise: the same runs on
 * every machine and every CI run, so a failure reproduces and a suite
 * never flakes; pass `seed` to search elsewhere.
 *
 * @category Harnesses
 */
export const DEFAULT_SEED = 0x5eed_13;

/**
 * What every suite takes besides the driver.
 *
 * @category Harnesses
 */
export interface ContractOptions {
  /** Cases to skip, by stable id, with the reason. */
  readonly skip?: Skips;
  /**
   * Model-based runs per property (fast-check `numRuns`, default 30):
   * enabled-op generation finds the classic bugs in tens of runs.
   */
  readonly runs?: number;
  /** fast-check seed (default {@link DEFAULT_SEED}): another seed tries other runs. */
  readonly seed?: number;
  /** The explorer's state bound per case (default 20000). */
  readonly maxStates?: number;
}

/**
 * An exporter under test (`struct dma_buf_ops` provider): the suite's
 * partner is the contract importer ({@link contractImporter}, a correct
 * dynamic importer named `ref-importer`), which the machine must hold.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   boot, defineMachine, linux71, referenceExporter, referenceTopology,
 * } from "@dmabuf-ref/core";
 * import { contractImporter, mustStep } from "@dmabuf-ref/contracts";
 * import type { ExporterUnderTest } from "@dmabuf-ref/contracts";
 *
 * const harness: ExporterUnderTest = {
 *   driver: "ref-exporter",
 *   machine: (profile, partner) => defineMachine({ profile, topology: referenceTopology,
 *     exporters: [referenceExporter({ region: "ram0" })], importers: [partner] }),
 *   exportBuffer: (m, w) => mustStep(m, w,
 *     { kind: "export", exporter: "ref-exporter", owner: "dev0", args: { size: 0x2000n } }),
 *   importingDevice: "dev1",
 *   revoke: (_m, _w, buf) => ({ kind: "revoke", buf, permanent: true, by: "close" }),
 * };
 * // What the suite does with it: build the machine with its partner, export one buffer.
 * const m = harness.machine(linux71, contractImporter());
 * assert.equal(harness.exportBuffer(m, boot(m)).bufs.get(1)?.exporter, "ref-exporter");
 * ```
 * @category Harnesses
 */
export interface ExporterUnderTest {
  /** The exporter's name in the machine (`ExporterDriver.name`). */
  readonly driver: string;
  /** The profiles to check under (default: linux-7.1). */
  readonly profiles?: readonly Profile[];
  /**
   * The machine for a profile: the exporter on its hardware, plus
   * `partner` (the contract importer) as an importer.
   *
   * @param profile - the profile in force.
   * @param partner - the importer the suite attaches with.
   */
  machine(profile: Profile, partner: ImporterDriver): Machine;
  /**
   * Exports one buffer the way the driver's users do (its export path:
   * an ioctl, a driver op, core's `export` op), returning the world with
   * it. The suite's buffer is the one this adds.
   *
   * @param m - the machine.
   * @param w - the booted world.
   */
  exportBuffer(m: Machine, w: World): World;
  /** The device the contract importer attaches for: one that can reach the buffer. */
  readonly importingDevice: string;
  /**
   * The importer the suite attaches with, when the contract importer (one
   * SGT accept) cannot import your mapping type: a correct dynamic
   * importer named `ref-importer`, built with {@link dynamicImporter}
   * (`accepts` and `addressOf` changed only), so a failure stays yours.
   */
  readonly partner?: () => ImporterDriver;
  /**
   * Where the importing device's DMA through a mapping starts (default
   * core's `firstDmaAddress`: the SGT's first DMA address, else the first
   * IOVA), for a payload of your type.
   *
   * @param mapping - the contract importer's mapping.
   */
  readonly addressOf?: (mapping: MappingState) => bigint | undefined;
  /**
   * The op by which a user revokes the buffer for good (close, unbind,
   * core's `revoke` op), or null for an exporter that never revokes (a
   * TTM exporter moves instead): the revoke cases then report that.
   *
   * @param m - the machine.
   * @param w - the world with the buffer mapped.
   * @param buf - the buffer.
   */
  revoke: ((m: Machine, w: World, buf: number) => Op) | null;
  /**
   * The op that revokes the buffer for a while and un-revokes it (an FLR,
   * a memory disable and re-enable as one call), when the exporter has
   * one: the un-revoke cases run it.
   *
   * @param m - the machine.
   * @param w - the world with the buffer mapped.
   * @param buf - the buffer.
   */
  readonly revokeTemporarily?: (m: Machine, w: World, buf: number) => Op;
  /**
   * The op that revokes the buffer until userspace restores it (VFIO: the
   * guest clearing PCI_COMMAND.MEMORY, a D3hot entry), when the exporter
   * has one: the case `exporter/revoke-after-revoke` then revokes for good
   * a buffer this left revoked, as a VM shutdown closes the device fd
   * after the guest turned memory decoding off.
   *
   * @param m - the machine.
   * @param w - the world with the buffer mapped.
   * @param buf - the buffer.
   */
  readonly revokeUntilRestored?: (m: Machine, w: World, buf: number) => Op;
  /**
   * Whether the un-revoke invalidates the importers under a profile
   * (mainline v7.1 does; Matt Evans' series from v4 does not; default:
   * it does).
   *
   * @param profile - the profile in force.
   */
  readonly unrevokeInvalidates?: (profile: Profile) => boolean;
}

/**
 * An importer under test (`struct dma_buf_attach_ops` provider): the
 * suite's partner is the contract exporter ({@link contractExporter}, the
 * reference exporter named `ref-exporter`), which the machine must hold.
 *
 * @category Harnesses
 */
export interface ImporterUnderTest {
  /** The importer's name in the machine (`ImporterDriver.name`). */
  readonly driver: string;
  /** The profiles to check under (default: linux-7.1). */
  readonly profiles?: readonly Profile[];
  /**
   * The machine for a profile: the importer and its devices, plus
   * `partner` (the contract exporter) with a RAM region named `ram0`.
   *
   * @param profile - the profile in force.
   * @param partner - the exporter whose buffers the suite hands over.
   */
  machine(profile: Profile, partner: ExporterDriver): Machine;
  /** The device `partner` exports from (an owner name of the topology; default `exp0`). */
  readonly exportingDevice?: string;
  /**
   * The exporter the suite exports from, when the contract exporter (SGT,
   * PAL and the iommufd selftest hook) cannot hand your importer a buffer
   * of its mapping type: a correct, revocable exporter named
   * `ref-exporter` (waiting for every unmap, refusing map with ENODEV once
   * revoked) whose `export` takes `{ size }`, so a failure stays yours.
   *
   * @param profile - the profile in force.
   */
  readonly partner?: (profile: Profile) => ExporterDriver;
  /**
   * Imports `buf` the way the importer's users do (an IOAS_MAP_FILE, a
   * memslot, an MR registration, core's attach and map) so its device can
   * DMA to it, returning the world.
   *
   * @param m - the machine.
   * @param w - the world with the buffer exported.
   * @param buf - the partner's buffer.
   */
  importBuffer(m: Machine, w: World, buf: number): World;
  /**
   * The calls by which the importer's device accesses the buffer through
   * the import, as the importer starts it: a device DMA through its IOMMU
   * mapping, or a job through its command submission followed by the
   * job's access and signal. Empty when there is nothing to access (no
   * import, or no device access of its own).
   *
   * @param m - the machine.
   * @param w - the world with the buffer imported.
   * @param buf - the buffer.
   * @param dir - read or write.
   */
  access(m: Machine, w: World, buf: number, dir: "read" | "write"): readonly ThreadCall[];
  /**
   * The ops by which the importer's user gives the import up (unmap,
   * destroy, close), run in order by one thread.
   *
   * @param m - the machine.
   * @param w - the world with the buffer imported.
   * @param buf - the buffer.
   */
  release(m: Machine, w: World, buf: number): readonly Op[];
  /**
   * The ops the importer's user may call next, for the model-based runs
   * (default: the importer's own `candidates`).
   *
   * @param m - the machine.
   * @param w - the world.
   */
  readonly userOps?: (m: Machine, w: World) => readonly Op[];
}

/**
 * Example values of a mapping type, for {@link mappingTypeContract}: what
 * an exporter may offer, what an importer may accept, what a map hands
 * over; and where the type meets a converter, how to read the memory a
 * payload describes.
 *
 * @category Harnesses
 */
export interface MappingTypeFixtures {
  /** Exporter data the type's `exporterData` schema must accept. */
  readonly exporterData: readonly unknown[];
  /** Importer data the `importerData` schema must accept. */
  readonly importerData: readonly unknown[];
  /** Payloads the `payload` schema must accept. */
  readonly payloads: readonly unknown[];
  /**
   * Inputs each schema must refuse besides the suite's own mutations
   * (a field out of range, a forbidden combination).
   */
  readonly invalid?: InvalidFixtures;
  /** Machines the type's `match()` is asked about (default: core's `p2pTopology()`). */
  readonly contexts?: readonly MatchContext[];
  /**
   * The other types negotiation tries it against (default: the types of
   * linux-7.1 and the RFC profile).
   */
  readonly others?: readonly AnyMappingType[];
  /**
   * Converters to or from the type, each with a machine that maps through
   * it and a reader of the memory a payload of either side describes.
   */
  readonly converters?: readonly ConverterFixture[];
}

/**
 * A converter and what the suite needs to check that it preserves the
 * memory it describes: a machine whose exporter offers the converter's
 * `from` type and whose importer accepts its `to` type, and readers that
 * resolve either payload to CPU physical ranges.
 *
 * @category Harnesses
 */
export interface ConverterFixture {
  /** The converter. */
  readonly converter: Converter;
  /**
   * The exporter's payload and the converted one for one mapped
   * attachment, from a machine the fixture builds (core's `step` ran the
   * converter).
   */
  mapped(): ConvertedRun;
  /**
   * The CPU physical ranges a payload of the `from` or `to` type describes
   * (DMA addresses translated through the importing device's IOMMU).
   *
   * @param side - which side's payload.
   * @param payload - the payload.
   * @param m - the machine.
   * @param w - the world it was mapped in.
   */
  memory(side: "from" | "to", payload: unknown, m: Machine, w: World): readonly PhysRange[];
}

/**
 * One attachment mapped through a converter: both payloads, the machine and the world.
 *
 * @category Harnesses
 */
export interface ConvertedRun {
  /** The exporter's payload (the converter's `from` type). */
  readonly from: unknown;
  /** The importer's payload (the converter's `to` type). */
  readonly to: unknown;
  /** The machine. */
  readonly m: Machine;
  /** The world after the map. */
  readonly w: World;
}

/**
 * A range of CPU physical memory.
 *
 * @category Harnesses
 */
export interface PhysRange {
  /** First byte's physical address. */
  readonly phys: bigint;
  /** Bytes. */
  readonly len: bigint;
}

/**
 * Inputs each schema of a mapping type must refuse, beside the suite's mutations.
 *
 * @category Harnesses
 */
export interface InvalidFixtures {
  /** For `exporterData`. */
  readonly exporterData?: readonly unknown[];
  /** For `importerData`. */
  readonly importerData?: readonly unknown[];
  /** For `payload`. */
  readonly payloads?: readonly unknown[];
}
