/**
 * A machine for the mm tests: RAM, one VFIO-like device `gpu0` with a
 * 16 MiB BAR 0 and a 2 KiB BAR 2 (sub-page: its mmap covers one page),
 * `dev2` with no IOMMU (its DMA addresses are physical, so a test reaches a
 * physical address directly), the reference exporter (no mmap op) and an
 * exporter `mmapper` whose buffers can be mmapped.
 */
import { expect } from "vitest";
import {
  boot,
  defineMachine,
  linux71,
  mmOp,
  ok,
  referenceExporter,
  referenceImporter,
  step,
  topologySchema,
} from "@dmabuf-ref/core";
import type { Machine, StepOutcome, World, mmActionSchema } from "@dmabuf-ref/core";
import type * as z from "zod";

export const topology = topologySchema.parse({
  regions: [
    { id: "ram0", kind: "ram", base: 0x1_0000_0000n, size: 0x4000_0000n },
    { id: "gpu0.bar0", kind: "bar", base: 0x80_0000_0000n, size: 0x100_0000n, device: "gpu0" },
    { id: "gpu0.bar2", kind: "bar", base: 0x80_1000_0000n, size: 0x800n, device: "gpu0" },
  ],
  devices: [
    { id: "gpu0", switch: "sw0" },
    { id: "dev2", switch: "sw0", iommu: false },
  ],
  switches: [{ id: "sw0", hostBridge: "hb0" }],
  hostBridges: [{ id: "hb0", p2p: true }],
});

/** The machine (see the file's comment). */
export function mmMachine(): Machine {
  const mmapper = referenceExporter({ name: "mmapper", region: "ram0" });
  return defineMachine({
    profile: linux71,
    topology,
    exporters: [
      referenceExporter({ region: "ram0" }),
      { ...mmapper, name: "mmapper", mmap: () => ok(undefined) },
    ],
    importers: [referenceImporter()],
  });
}

/** A booted world of {@link mmMachine}. */
export function fresh(): { m: Machine; w: World } {
  const m = mmMachine();
  return { m, w: boot(m) };
}

/** Runs an mm syscall that must succeed: its world and return value. */
export function sys(
  m: Machine,
  w: World,
  action: z.input<typeof mmActionSchema>,
): { world: World; ret: bigint } {
  const r = step(m, w, mmOp(action));
  if (r.status !== "done") {
    throw new Error(
      `${action.op} failed: ${r.status === "failed" ? `${r.error.errno} ${r.error.message}` : r.reason}`,
    );
  }
  return { world: r.world, ret: BigInt(r.returned?.ret ?? -1) };
}

/** Runs an mm syscall that must fail; asserts the world is unchanged and returns the errno. */
export function sysErrno(m: Machine, w: World, action: z.input<typeof mmActionSchema>): string {
  const r: StepOutcome = step(m, w, mmOp(action));
  expect(r.status).toBe("failed");
  expect(r.world).toBe(w);
  return r.status === "failed" ? r.error.errno : "none";
}

/** Exports a buffer of `size` bytes from `exporter`, returning its id (= its fd). */
export function exportBuf(
  m: Machine,
  w: World,
  exporter: string,
  size: bigint,
): { world: World; buf: number } {
  const r = step(m, w, { kind: "export", exporter, owner: "exp0", args: { size } });
  if (r.status !== "done" || r.created === undefined) throw new Error("export failed");
  return { world: r.world, buf: r.created };
}
