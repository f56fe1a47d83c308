import * as z from "zod";

/**
 * A value in a replay file: a decimal or `0x` number, or a reference to an
 * earlier call's result (`buf0` = its return value, `ioas0.out_ioas_id` =
 * a field of the struct it wrote back).
 */
export const replayValueSchema = z.union([z.number(), z.string().min(1)]);

/** A flags value: a number, or a list of flag names (short or full macro names). */
export const replayFlagsSchema = z.union([
  z.number(),
  z.string().min(1),
  z.array(z.string().min(1)),
]);

/** An ioctl call: on which fd, which macro, the struct's fields, and a name for its result. */
export const replayIoctlSchema = z.object({
  /** The fd: a device (`vfio0`), `iommufd`, an earlier result's name, or a number. */
  fd: replayValueSchema,
  /** The kernel macro, e.g. `IOMMU_IOAS_MAP_FILE`. */
  ioctl: z.string().min(1),
  /** The argument struct's fields, named exactly as the kernel's. */
  arg: z.record(z.string(), z.unknown()).default({}),
  /** A name for the result (the returned fd, or the struct written back). */
  as: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "a name is letters, digits and _")
    .optional(),
});

/** The events a replay can interleave with ioctls. */
export const replayEventSchema = z.discriminatedUnion("event", [
  z.object({
    /** A function-level reset through config space (`vfio_pci_try_reset_function`). */
    event: z.literal("flr"),
    /** The VFIO device. */
    device: z.string().min(1),
  }),
  z.object({
    /** A config write clearing PCI_COMMAND.MEMORY. */
    event: z.literal("memory-disable"),
    /** The VFIO device. */
    device: z.string().min(1),
  }),
  z.object({
    /** A config write setting PCI_COMMAND.MEMORY. */
    event: z.literal("memory-enable"),
    /** The VFIO device. */
    device: z.string().min(1),
  }),
  z.object({
    /** The VMM closes the VFIO device fd. */
    event: z.literal("close"),
    /** The VFIO device. */
    device: z.string().min(1),
  }),
  z.object({
    /** The host unbinds the device: VFIO's request to userspace, the device-fd close, then cleanup. */
    event: z.literal("unbind"),
    /** The VFIO device. */
    device: z.string().min(1),
  }),
  z.object({
    /** A device is attached to an IOAS (the VFIO cdev attach path). */
    event: z.literal("attach"),
    /** The device. */
    device: z.string().min(1),
    /** The IOAS id (a number or a reference). */
    ioas: replayValueSchema,
  }),
  z.object({
    /** A device DMA, judged by the oracle. */
    event: z.literal("dma"),
    /** The device. */
    device: z.string().min(1),
    /** The address it issues (an IOVA when it is behind the IOMMU). */
    iova: replayValueSchema,
    /** Bytes. */
    length: replayValueSchema,
    /** Read or write. */
    dir: z.enum(["read", "write"]),
  }),
]);

/** One entry of `calls`. */
export const replayCallSchema = z.union([replayIoctlSchema, replayEventSchema]);

/** A replay file (`dmabuf-ref replay FILE`). */
export const replayFileSchema = z.object({
  /** Only the default machine exists today (see the README). */
  machine: z.literal("default").optional(),
  /** The profile (`--profile` overrides). */
  profile: z.string().optional(),
  /** The calls, in order. */
  calls: z.array(replayCallSchema),
});

/** A parsed replay file. */
export type ReplayFile = z.output<typeof replayFileSchema>;
/** One parsed call. */
export type ReplayCall = z.output<typeof replayCallSchema>;
