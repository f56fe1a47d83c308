/*
 * The mm system calls as ops of `step`: a built-in driver named "mm" that
 * every machine has (it is neither an exporter nor an importer, so it is not
 * in the machine's driver tables; `step` and `parseOp` find it by name).
 * Each op answers with the syscall's return value in `returned.ret`.
 */
import * as z from "zod";
import type { Result } from "../errors/result.js";
import type { Op } from "../lifetime/op.js";
import type { StepOutcome } from "../lifetime/outcome.js";
import { failed, returned } from "../lifetime/outcome.js";
import { driverOpsOf } from "../machine/driver-op.js";
import type { DriverOp, Machine, OpProvider } from "../machine/machine.js";
import { u64Schema } from "../schemas.js";
import type { World } from "../world/world.js";
import { DEFAULT_PROCESS, MM_DRIVER } from "./layout.js";
import { closeFd, memfdCreate } from "./memfd.js";
import type { MmDone } from "./mmap.js";
import { mmap, munmap } from "./mmap.js";

const process = z.string().min(1).default(DEFAULT_PROCESS);
/** An fd number (`int`): a memfd's or a dma-buf's. */
const fdNumber = z.number().int().min(0).max(0x7fff_ffff);

/**
 * The mm syscalls, one variant each (the fields as `step` validates them).
 *
 * @category Drivers
 */
export const mmActionSchema = z.discriminatedUnion("op", [
  z.strictObject({
    /** `memfd_create()` + `ftruncate(size)`. */
    op: z.literal("memfd_create"),
    /** The calling process. */
    process,
    /** The file's size in bytes. */
    size: u64Schema,
  }),
  z.strictObject({
    /** `mmap(addr, length, prot, MAP_SHARED [| MAP_FIXED], fd, offset)`. */
    op: z.literal("mmap"),
    /** The calling process. */
    process,
    /** A VFIO device's name (its device fd), or a memfd's or dma-buf's fd number. */
    fd: z.union([z.string().min(1), fdNumber]),
    /** File offset (VFIO: `VFIO_PCI_INDEX_TO_OFFSET(index)` + offset in the BAR). */
    offset: u64Schema.default(0n),
    /** Bytes. */
    length: u64Schema,
    /** `MAP_FIXED` address; absent: the model picks, top-down. */
    addr: u64Schema.optional(),
    /** `PROT_READ` / `PROT_WRITE`; absent: both. */
    prot: z.array(z.enum(["READ", "WRITE"])).default(["READ", "WRITE"]),
  }),
  z.strictObject({
    /** `munmap(addr, length)`. */
    op: z.literal("munmap"),
    /** The calling process. */
    process,
    /** First address. */
    addr: u64Schema,
    /** Bytes. */
    length: u64Schema,
  }),
  z.strictObject({
    /** `close(fd)` of a memfd or dma-buf fd (core's `close` names a buffer, not an fd). */
    op: z.literal("close-fd"),
    /** The calling process. */
    process,
    /** The fd. */
    fd: fdNumber,
  }),
]);

/**
 * One mm syscall, validated.
 *
 * @category Drivers
 */
export type MmAction = z.output<typeof mmActionSchema>;

/** What each mm op models. */
const MM_OP_MODELS = {
  memfd_create: "memfd_create() + ftruncate() (mm/memfd.c, shmem)",
  mmap: "mmap() of a VFIO device, memfd or dma-buf fd (do_mmap, MAP_SHARED)",
  munmap: "munmap() (do_vmi_munmap)",
  "close-fd": "close() of a memfd or dma-buf fd",
} as const;

function asStep(w: World, r: Result<MmDone>): StepOutcome {
  if (!r.ok) return failed(w, r.error);
  return returned(r.value.world, r.value.events, { ret: Number(r.value.ret) });
}

/**
 * Runs one mm syscall.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param a - the validated action.
 * @returns the outcome; `returned.ret` is the fd, the address or 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, mmAct, mmActionSchema, referenceMachine } from "@dmabuf-ref/core";
 *
 * // munmap() of one page at 0x7f00_0000_0000, validated then run.
 * const m = referenceMachine();
 * const a = mmActionSchema.parse({ op: "munmap", addr: 0x7f00_0000_0000n, length: 0x1000n });
 * assert.equal(a.process, "vmm");
 * const r = mmAct(m, boot(m), a);
 * assert.equal(r.status, "done");
 * assert.equal(r.status === "done" ? r.returned?.ret : undefined, 0);
 * ```
 * @category Drivers
 */
export function mmAct(m: Machine, w: World, a: MmAction): StepOutcome {
  switch (a.op) {
    case "memfd_create":
      return asStep(w, memfdCreate(m, w, a.process, a.size));
    case "mmap":
      return asStep(
        w,
        mmap(m, w, {
          process: a.process,
          fd: a.fd,
          offset: a.offset,
          length: a.length,
          addr: a.addr,
          read: a.prot.includes("READ"),
          write: a.prot.includes("WRITE"),
        }),
      );
    case "munmap":
      return asStep(w, munmap(m, w, a.process, a.addr, a.length));
    case "close-fd":
      return asStep(w, closeFd(m, w, a.process, a.fd));
    default: {
      const never: never = a;
      throw new Error(`mm: unknown op ${JSON.stringify(never)}`);
    }
  }
}

/**
 * The mm driver's ops (what `step` runs for `{ kind: "driver", driver: "mm" }`).
 *
 * @category Drivers
 */
export const MM_OPS: readonly DriverOp[] = driverOpsOf(mmActionSchema, MM_OP_MODELS, (m, w, a) =>
  mmAct(m, w, a),
);

/** The mm driver as `step` dispatches to it: its name and its ops. */
export const mmDriver: { readonly name: string; readonly ops: readonly DriverOp[] } = {
  name: MM_DRIVER,
  ops: MM_OPS,
};

/**
 * The mm ops registered under a plain op name, as the machine's
 * `driverOps` lists a driver's (for `parseOp`).
 *
 * @param name - the op's name.
 * @returns the mm provider of that name, or none.
 */
export function mmProviders(name: string): readonly OpProvider[] {
  const def = MM_OPS.find((o) => o.name === name);
  return def === undefined ? [] : [{ driver: MM_DRIVER, def }];
}

/**
 * A core `driver` op for an mm syscall, typed by its fields.
 *
 * @param action - the syscall as written.
 * @returns the op.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, mmOp, referenceMachine, step } from "@dmabuf-ref/core";
 *
 * // memfd_create() + ftruncate(4 GiB) as an op of `step`: `ret` is the fd.
 * const m = referenceMachine();
 * const r = step(m, boot(m), mmOp({ op: "memfd_create", size: 1n << 32n }));
 * assert.equal(r.status, "done");
 * assert.equal(r.status === "done" ? r.returned?.ret : undefined, 0x100001);
 * ```
 * @category Drivers
 */
export function mmOp(action: z.input<typeof mmActionSchema>): Op {
  return { kind: "driver", driver: MM_DRIVER, action };
}
