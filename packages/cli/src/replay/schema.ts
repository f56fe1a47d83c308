import * as z from "zod";
import { machineDescriptionSchema } from "./machine.js";

/**
 * A value in a replay file: a decimal or `0x` number, or a reference to an
 * earlier call's result (`buf0` = its return value, `ioas0.out_ioas_id` =
 * a field of the struct it wrote back, `ram0.addr` = where an mmap placed it).
 */
export const replayValueSchema = z.union([z.number(), z.string().min(1)]);

/** A flags value: a number, or a list of flag names (short or full macro names). */
export const replayFlagsSchema = z.union([
  z.number(),
  z.string().min(1),
  z.array(z.string().min(1)),
]);

/** A name a call binds its result to. */
export const replayNameSchema = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "a name is letters, digits and _");

/**
 * An ioctl call: on which fd, which ioctl, the struct's fields, and a name
 * for its result.
 */
export const replayIoctlSchema = z.strictObject({
  /** The fd: a device (`vfio0`), `iommufd`, an earlier result's name, or a number. */
  fd: replayValueSchema,
  /**
   * The kernel macro (`IOMMU_IOAS_MAP_FILE`), or the raw request number
   * (`0x3b8f`, a number or a string): an unknown number reaches the fd's
   * ioctl handler, which answers ENOTTY.
   */
  ioctl: z.union([z.string().min(1), z.number().int().nonnegative()]),
  /**
   * The argument struct's fields, named exactly as the kernel's (`tail`:
   * the bytes past the struct when `size`/`argsz` is larger), or `null`
   * for a NULL argument pointer.
   */
  arg: z.union([z.record(z.string(), z.unknown()), z.null()]).default({}),
  /** A name for the result (the returned fd, and the struct written back). */
  as: replayNameSchema.optional(),
});

const device = z.string().min(1);

/** The events a replay can interleave with ioctls. */
export const replayEventSchema = z.discriminatedUnion("event", [
  z.strictObject({
    /** A function-level reset through config space (`vfio_pci_try_reset_function`). */
    event: z.literal("flr"),
    /** The VFIO device. */
    device,
  }),
  z.strictObject({
    /** A config write clearing PCI_COMMAND.MEMORY. */
    event: z.literal("memory-disable"),
    /** The VFIO device. */
    device,
  }),
  z.strictObject({
    /** A config write setting PCI_COMMAND.MEMORY. */
    event: z.literal("memory-enable"),
    /** The VFIO device. */
    device,
  }),
  z.strictObject({
    /** A PMCSR write to D3hot (`vfio_lock_and_set_power_state`). */
    event: z.literal("d3hot"),
    /** The VFIO device. */
    device,
  }),
  z.strictObject({
    /** A PMCSR write back to D0. */
    event: z.literal("d0"),
    /** The VFIO device. */
    device,
  }),
  z.strictObject({
    /** `VFIO_DEVICE_PCI_HOT_RESET` on the device's fd: a bus reset of its whole dev_set. */
    event: z.literal("hot-reset"),
    /** A VFIO device of the dev_set. */
    device,
  }),
  z.strictObject({
    /**
     * A PCI config space write through the VFIO config region
     * (`vfio_pci_config_rw`): the command register, PMCSR or the FLR bit.
     */
    event: z.literal("config-write"),
    /** The VFIO device. */
    device,
    /** Byte offset in config space. */
    offset: replayValueSchema,
    /** The value written. */
    value: replayValueSchema,
    /** Bytes written: 1, 2 or 4 (default 2, the registers' width). */
    size: z.union([z.literal(1), z.literal(2), z.literal(4)]).default(2),
  }),
  z.strictObject({
    /** The VMM closes the VFIO device fd. */
    event: z.literal("close"),
    /** The VFIO device. */
    device,
  }),
  z.strictObject({
    /** The host unbinds the device: VFIO's request to userspace, the device-fd close, then cleanup. */
    event: z.literal("unbind"),
    /** The VFIO device. */
    device,
  }),
  z.strictObject({
    /** A device is attached to an IOAS (the VFIO cdev attach path). */
    event: z.literal("attach"),
    /** The device. */
    device,
    /** The IOAS id (a number or a reference). */
    ioas: replayValueSchema,
  }),
  z.strictObject({
    /** A device is detached from its IOAS (`iommufd_device_detach`). */
    event: z.literal("detach"),
    /** The device. */
    device,
  }),
  z.strictObject({
    /** A device DMA, judged by the oracle. */
    event: z.literal("dma"),
    /** The device. */
    device,
    /** The address it issues (an IOVA when it is behind the IOMMU). */
    iova: replayValueSchema,
    /** Bytes. */
    length: replayValueSchema,
    /** Read or write. */
    dir: z.enum(["read", "write"]),
  }),
]);

/** The system calls of the replaying process that shape its memory. */
export const replaySyscallSchema = z.discriminatedUnion("syscall", [
  z.strictObject({
    /** `memfd_create()` plus `ftruncate(size)`: a file of anonymous memory. */
    syscall: z.literal("memfd_create"),
    /** Its size in bytes. */
    size: replayValueSchema,
    /** A name for the fd. */
    as: replayNameSchema,
  }),
  z.strictObject({
    /** `mmap(addr, length, prot, MAP_SHARED[|MAP_FIXED], fd, offset)`. */
    syscall: z.literal("mmap"),
    /** A VFIO device, a memfd or a dma-buf (a name or a number). */
    fd: replayValueSchema,
    /** For a VFIO device `VFIO_PCI_INDEX_TO_OFFSET(index)` plus the offset in the region. */
    offset: replayValueSchema.default(0),
    /** Bytes. */
    length: replayValueSchema,
    /** MAP_FIXED at this address; absent: the kernel picks, top-down. */
    addr: replayValueSchema.optional(),
    /** `PROT_READ` / `PROT_WRITE` (default both). */
    prot: z.array(z.enum(["READ", "WRITE", "PROT_READ", "PROT_WRITE"])).default(["READ", "WRITE"]),
    /** A name: `NAME` and `NAME.addr` are the address. */
    as: replayNameSchema.optional(),
  }),
  z.strictObject({
    /** `munmap(addr, length)`. */
    syscall: z.literal("munmap"),
    /** Start address. */
    addr: replayValueSchema,
    /** Bytes. */
    length: replayValueSchema,
  }),
  z.strictObject({
    /** `close(fd)`: of a VFIO device, a memfd or a dma-buf. */
    syscall: z.literal("close"),
    /** The fd (a name or a number). */
    fd: replayValueSchema,
  }),
]);

/** One entry of `calls`. */
export const replayCallSchema = z.union([
  replayIoctlSchema,
  replayEventSchema,
  replaySyscallSchema,
]);

/** A replay file (`dmabuf-ref replay FILE`). */
export const replayFileSchema = z.strictObject({
  /** `default`, or a description of the machine (docs/guides/replay-format.md, "The machine"). */
  machine: z.union([z.literal("default"), machineDescriptionSchema]).optional(),
  /** The profile (`--profile` overrides). */
  profile: z.string().optional(),
  /** The calls, in order. */
  calls: z.array(replayCallSchema),
});

/** A parsed replay file. */
export type ReplayFile = z.output<typeof replayFileSchema>;
/** One parsed call. */
export type ReplayCall = z.output<typeof replayCallSchema>;
/** One parsed ioctl call. */
export type ReplayIoctl = z.output<typeof replayIoctlSchema>;
/** One parsed event. */
export type ReplayEvent = z.output<typeof replayEventSchema>;
/** One parsed syscall. */
export type ReplaySyscall = z.output<typeof replaySyscallSchema>;
