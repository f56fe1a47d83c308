/**
 * Shared set-up for the iommufd tests: a machine with RAM, a VFIO device's
 * BARs and DMA devices behind the IOMMU; worlds with the VFIO-like test
 * exporter, core's reference exporter and iommufd; helpers that speak the
 * uAPI structs, each call an iommufd driver op run by core's `step`.
 */
import { expect } from "vitest";
import {
  IOMMU_DESTROY,
  IOMMU_IOAS_ALLOC,
  IOMMU_IOAS_IOVA_RANGES,
  IOMMU_IOAS_MAP,
  IOMMU_IOAS_MAP_FILE,
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  IOMMU_IOAS_UNMAP,
  boot,
  defineMachine,
  iommuDestroy,
  iommuIoasAlloc,
  iommuIoasIovaRanges,
  iommuIoasMap,
  iommuIoasMapFile,
  iommuIoasUnmap,
  linux71,
  referenceExporter,
  runScript,
  step,
  topologySchema,
} from "@dmabuf-ref/core";
import type {
  Machine,
  Profile,
  StepOutcome,
  SyscallReturn,
  Topology,
  World,
} from "@dmabuf-ref/core";
import { IOMMUFD, iommufdImporter } from "../../src/index.js";
import type { IommufdAction } from "../../src/index.js";
import { vfioTest } from "./vfio-test-exporter.js";
import type { VfioTestArgs } from "./vfio-test-exporter.js";

/** 4 KiB. */
export const PAGE = 0x1000n;
/** Read and write. */
export const RW = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
/** `IOMMU_IOAS_MAP_FIXED_IOVA`. */
export const FIXED = IOMMU_IOAS_MAP_FIXED_IOVA;
/** A user address whose RAM lies away from the reference exporter's buffers. */
export const USER_VA = 0x7f00_2000_0000n;

/**
 * The machine: 1 GiB of RAM, vfio0 with a 16 MiB BAR0 and a 16 TiB BAR2,
 * dev0 and dev1 behind the IOMMU on another switch (P2P to vfio0 through
 * the host bridge), dev2 with no IOMMU.
 */
export const topology: Topology = topologySchema.parse({
  regions: [
    { id: "ram0", kind: "ram", base: 0x1_0000_0000n, size: 0x4000_0000n },
    { id: "vfio0.bar0", kind: "bar", base: 0x40_0000_0000n, size: 0x100_0000n, device: "vfio0" },
    { id: "vfio0.bar2", kind: "bar", base: 0x8000_0000_0000n, size: 1n << 44n, device: "vfio0" },
  ],
  devices: [
    { id: "vfio0", switch: "sw0" },
    { id: "dev0", switch: "sw1" },
    { id: "dev1", switch: "sw1" },
    { id: "dev2", switch: "sw1", iommu: false },
  ],
  switches: [
    { id: "sw0", hostBridge: "hb0" },
    { id: "sw1", hostBridge: "hb0" },
  ],
  hostBridges: [{ id: "hb0", p2p: true }],
});

/**
 * The machine of these tests: the topology above with the VFIO-like
 * exporter, core's reference exporter (the "foreign" one, allocating from
 * ram0) and iommufd. Its initial world is `boot(m)`.
 *
 * @param profile - the profile (default linux-7.1).
 */
export function makeMachine(profile: Profile = linux71): Machine {
  return defineMachine({
    profile,
    topology,
    exporters: [vfioTest, referenceExporter({ region: "ram0" })],
    importers: [iommufdImporter()],
  });
}

/**
 * One iommufd op as userspace issues it: a core `driver` op of iommufd,
 * run by `step` (the op's fields validated against iommufd's schema).
 */
export function iommufdStep(m: Machine, w: World, action: IommufdAction): StepOutcome {
  return step(m, w, { kind: "driver", driver: IOMMUFD, action });
}

/**
 * An ioctl on the iommufd fd: iommufd's `ioctl` op through `step`. The
 * outcome carries the return value and the struct copied back in
 * `returned.ret` / `returned.out`, and the user-pointer writes in
 * `returned.written`.
 *
 * @param process - the calling process (default the driver's, "vmm").
 */
export function ioctl(
  m: Machine,
  w: World,
  number: number,
  buffer: Uint8Array,
  process?: string,
): StepOutcome {
  // Not typed as an IommufdAction: the encoders give `Uint8Array<ArrayBufferLike>`,
  // the schema's type says `Uint8Array<ArrayBuffer>` (its check is `instanceof Uint8Array`).
  const action = process === undefined ? { number, buffer } : { number, buffer, process };
  return step(m, w, { kind: "driver", driver: IOMMUFD, action: { op: "ioctl", ...action } });
}

/** `VFIO_DEVICE_ATTACH_IOMMUFD_PT`: iommufd's `attach-device` op through `step`. */
export function attachDeviceStep(
  m: Machine,
  w: World,
  device: string,
  ioas: number,
  newDomain = false,
): StepOutcome {
  return iommufdStep(
    m,
    w,
    newDomain
      ? { op: "attach-device", device, ioas, newDomain: true }
      : { op: "attach-device", device, ioas },
  );
}

/** `VFIO_DEVICE_DETACH_IOMMUFD_PT`: iommufd's `detach-device` op through `step`. */
export function detachDeviceStep(m: Machine, w: World, device: string): StepOutcome {
  return iommufdStep(m, w, { op: "detach-device", device });
}

/** An ioctl that returned 0, with the struct the kernel copied back. */
export type IoctlDone = Extract<StepOutcome, { status: "done" }> & {
  readonly returned: SyscallReturn & { readonly out: Uint8Array };
};

/** Asserts an ioctl returned 0 and copied its struct back, and narrows it. */
export function done(r: StepOutcome): IoctlDone {
  if (r.status !== "done") {
    throw new Error(r.status === "failed" ? `${r.error.errno}: ${r.error.message}` : r.reason);
  }
  const { returned } = r;
  expect(returned?.ret).toBe(0);
  if (returned?.out === undefined) throw new Error("no struct copied back");
  return { ...r, returned: { ...returned, out: returned.out } };
}

/** Asserts an ioctl failed with `errno` and changed nothing. */
export function expectErrno(w: World, r: StepOutcome, errno: string): void {
  expect(r.status).toBe("failed");
  if (r.status === "failed") expect(r.error.errno).toBe(errno);
  expect(r.world).toBe(w);
}

/** Exports a VFIO-like buffer over BAR ranges (default: 16 KiB at BAR0). */
export function exportVfio(
  m: Machine,
  w: World,
  args: VfioTestArgs = { region: "vfio0.bar0", ranges: [{ offset: 0n, length: 0x4000n }] },
): { world: World; buf: number } {
  const r = step(m, w, { kind: "export", exporter: "vfio-test", owner: "vfio0", args });
  if (r.status !== "done" || r.created === undefined) throw new Error("export failed");
  return { world: r.world, buf: r.created };
}

/** Exports a buffer of core's reference (non-VFIO) exporter. */
export function exportForeign(m: Machine, w: World, size = 0x4000n): { world: World; buf: number } {
  const r = step(m, w, { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size } });
  if (r.status !== "done" || r.created === undefined) throw new Error("export failed");
  return { world: r.world, buf: r.created };
}

/** `IOMMU_IOAS_ALLOC`; returns the new IOAS id. */
export function allocIoas(m: Machine, w: World): { world: World; ioas: number } {
  const r = done(
    ioctl(m, w, IOMMU_IOAS_ALLOC, iommuIoasAlloc.encode({ size: 12, flags: 0, out_ioas_id: 0 })),
  );
  return { world: r.world, ioas: iommuIoasAlloc.decode(r.returned.out).out_ioas_id };
}

/** Arguments of {@link mapFile}. */
export interface MapFileArgs {
  readonly ioas: number;
  readonly fd: number;
  readonly start?: bigint;
  readonly length: bigint;
  readonly iova?: bigint;
  readonly flags?: number;
}

/** `IOMMU_IOAS_MAP_FILE`. */
export function mapFile(m: Machine, w: World, a: MapFileArgs): StepOutcome {
  const bytes = iommuIoasMapFile.encode({
    size: iommuIoasMapFile.size,
    flags: a.flags ?? RW,
    ioas_id: a.ioas,
    fd: a.fd,
    start: a.start ?? 0n,
    length: a.length,
    iova: a.iova ?? 0n,
  });
  return ioctl(m, w, IOMMU_IOAS_MAP_FILE, bytes);
}

/** `IOMMU_IOAS_MAP_FILE` that must succeed; returns the IOVA. */
export function mapFileOk(m: Machine, w: World, a: MapFileArgs): { world: World; iova: bigint } {
  const r = done(mapFile(m, w, a));
  return { world: r.world, iova: iommuIoasMapFile.decode(r.returned.out).iova };
}

/** Arguments of {@link mapUser}. */
export interface MapUserArgs {
  readonly ioas: number;
  readonly userVa?: bigint;
  readonly length: bigint;
  readonly iova?: bigint;
  readonly flags?: number;
  readonly reserved?: number;
}

/** `IOMMU_IOAS_MAP` of VMM memory. */
export function mapUser(m: Machine, w: World, a: MapUserArgs): StepOutcome {
  const bytes = iommuIoasMap.encode({
    size: iommuIoasMap.size,
    flags: a.flags ?? RW,
    ioas_id: a.ioas,
    __reserved: a.reserved ?? 0,
    user_va: a.userVa ?? USER_VA,
    length: a.length,
    iova: a.iova ?? 0n,
  });
  return ioctl(m, w, IOMMU_IOAS_MAP, bytes);
}

/** `IOMMU_IOAS_MAP` that must succeed; returns the IOVA. */
export function mapUserOk(m: Machine, w: World, a: MapUserArgs): { world: World; iova: bigint } {
  const r = done(mapUser(m, w, a));
  return { world: r.world, iova: iommuIoasMap.decode(r.returned.out).iova };
}

/** `IOMMU_IOAS_UNMAP`. */
export function unmap(
  m: Machine,
  w: World,
  ioas: number,
  iova: bigint,
  length: bigint,
): StepOutcome {
  return ioctl(
    m,
    w,
    IOMMU_IOAS_UNMAP,
    iommuIoasUnmap.encode({ size: iommuIoasUnmap.size, ioas_id: ioas, iova, length }),
  );
}

/** `IOMMU_IOAS_UNMAP` that must succeed; returns the bytes unmapped. */
export function unmapOk(
  m: Machine,
  w: World,
  ioas: number,
  iova: bigint,
  length: bigint,
): { world: World; unmapped: bigint } {
  const r = done(unmap(m, w, ioas, iova, length));
  return { world: r.world, unmapped: iommuIoasUnmap.decode(r.returned.out).length };
}

/** `IOMMU_DESTROY`. */
export function destroy(m: Machine, w: World, id: number): StepOutcome {
  return ioctl(m, w, IOMMU_DESTROY, iommuDestroy.encode({ size: 8, id }));
}

/** `IOMMU_IOAS_IOVA_RANGES`, copying through `allowed` (the user array's address). */
export function iovaRanges(
  m: Machine,
  w: World,
  ioas: number,
  num: number,
  reserved = 0,
  allowed = 0x7000_0000n,
): StepOutcome {
  return ioctl(
    m,
    w,
    IOMMU_IOAS_IOVA_RANGES,
    iommuIoasIovaRanges.encode({
      size: iommuIoasIovaRanges.size,
      ioas_id: ioas,
      num_iovas: num,
      __reserved: reserved,
      allowed_iovas: allowed,
      out_iova_alignment: 0n,
    }),
  );
}

/** Attaches a device; must succeed. */
export function attachDevice(
  m: Machine,
  w: World,
  device: string,
  ioas: number,
  newDomain = false,
): World {
  const r = attachDeviceStep(m, w, device, ioas, newDomain);
  if (r.status !== "done")
    throw new Error(r.status === "failed" ? `${r.error.errno}: ${r.error.message}` : r.reason);
  return r.world;
}

/** One DMA access by a device; the oracle's verdict. */
export function dma(
  m: Machine,
  w: World,
  device: string,
  addr: bigint,
  dir: "read" | "write" = "read",
): { world: World; outcome: string; detail: string } {
  const r = step(m, w, { kind: "dma", device, addr, len: 0x1000n, dir });
  if (r.status !== "done") throw new Error("dma did not run");
  const e = r.events.find((x) => x.kind === "dma");
  if (e?.kind !== "dma") throw new Error("no dma event");
  return { world: r.world, outcome: e.outcome, detail: e.detail };
}

/** Runs the exporter's revoke sequence to completion (temporary unless said). */
export function revoke(m: Machine, w: World, buf: number, permanent = false): World {
  const run = runScript(m, w, [{ kind: "revoke", buf, permanent, by: "FLR" }], "vfio0");
  expect(run.results.map((r) => r.status)).toEqual(["done"]);
  expect(run.world.tasks.size).toBe(0);
  return run.world;
}

/** Runs the exporter's un-revoke sequence to completion. */
export function unrevoke(m: Machine, w: World, buf: number): World {
  const run = runScript(m, w, [{ kind: "unrevoke", buf, by: "FLR done" }], "vfio0");
  expect(run.results.map((r) => r.status)).toEqual(["done"]);
  expect(run.world.tasks.size).toBe(0);
  return run.world;
}

/** A machine (of `profile`) and a world with one IOAS, dev1 attached to it, and a 16 KiB VFIO buffer. */
export function vfioSetup(profile: Profile = linux71): {
  m: Machine;
  world: World;
  ioas: number;
  buf: number;
} {
  const m = makeMachine(profile);
  const a = allocIoas(m, boot(m));
  const e = exportVfio(m, attachDevice(m, a.world, "dev1", a.ioas));
  return { m, world: e.world, ioas: a.ioas, buf: e.buf };
}

/** The number of IOMMU mappings in a domain. */
export function mappingsIn(w: World, domain: number): number {
  return w.domains.get(domain)?.mappings.size ?? -1;
}
