import * as z from "zod";
import type { Machine, Op, StepOutcome, World } from "@dmabuf-ref/core";
import { match } from "ts-pattern";
import { iommufdAttachDevice, iommufdDetachDevice, iommufdUnbindDevice } from "./device.js";
import { vfioCdevIoctl } from "./device-uapi.js";
import { iommufdImportCapabilityCall } from "./capability.js";
import { iommufdReleaseDetach } from "./pages-dmabuf.js";
import { userRegionSchema } from "./user-copy.js";
import { iommufdIoctl } from "./main.js";
import { IOMMUFD } from "./constants.js";
import { attachedDevices, objectsOf } from "./objects.js";

/**
 * zod schema of the actions a core `driver` op may ask of iommufd, so
 * scripts and the explorer can interleave iommufd calls with revokes and
 * device DMA.
 *
 * @category uAPI
 */
export const iommufdActionSchema = z.discriminatedUnion("op", [
  z.strictObject({
    /** An ioctl on the iommufd fd (the `ioctl` op). */
    op: z.literal("ioctl"),
    /** The ioctl number, e.g. `IOMMU_IOAS_MAP_FILE`. */
    number: z.number().int().nonnegative(),
    /** The argument struct's bytes. */
    buffer: z.instanceof(Uint8Array),
    /** The calling process, for the trace. */
    process: z.string().min(1).optional(),
    /** User memory the kernel may read through the struct's pointers (e.g. `allowed_iovas`). */
    user: z.array(userRegionSchema).optional(),
  }),
  z.strictObject({
    /**
     * An ioctl on a VFIO device's cdev fd that calls into iommufd
     * (`VFIO_DEVICE_BIND_IOMMUFD`, `VFIO_DEVICE_ATTACH_IOMMUFD_PT`,
     * `VFIO_DEVICE_DETACH_IOMMUFD_PT`; the `vfio-cdev-ioctl` op).
     */
    op: z.literal("vfio-cdev-ioctl"),
    /** The VFIO device (topology id). */
    device: z.string().min(1),
    /** The ioctl number. */
    number: z.number().int().nonnegative(),
    /** The argument struct's bytes (the whole user buffer). */
    buffer: z.instanceof(Uint8Array),
    /** The fd number the process holds for the iommufd (BIND's `iommufd` must equal it). */
    iommufd: z.number().int().optional(),
    /** The calling process, for the trace. */
    process: z.string().min(1).optional(),
  }),
  z.strictObject({
    /** Attach a device to an IOAS (the `attach-device` op). */
    op: z.literal("attach-device"),
    /** The device. */
    device: z.string().min(1),
    /** The IOAS id. */
    ioas: z.number().int().positive(),
    /** Give it a domain of its own. */
    newDomain: z.boolean().optional(),
  }),
  z.strictObject({
    /** Detach a device from its IOAS (the `detach-device` op); it stays bound. */
    op: z.literal("detach-device"),
    /** The device. */
    device: z.string().min(1),
  }),
  z.strictObject({
    /**
     * The rest of `iopt_release_pages` under the 6.19.0-7.1.4 order (the
     * `release-detach` op, a kernel-internal continuation): detach and put
     * an attachment whose pages state is already destroyed.
     */
    op: z.literal("release-detach"),
    /** The attachment. */
    att: z.number().int().nonnegative(),
  }),
  z.strictObject({
    /**
     * PROPOSAL, no kernel uAPI (seed 000's visibility question): may iommufd
     * import this dma-buf? ok when `IOMMU_IOAS_MAP_FILE` of the whole buffer
     * would import it, else the errno it would fail with; nothing changes
     * (the `import-capability` op).
     */
    op: z.literal("import-capability"),
    /** The dma-buf (its fd). */
    buf: z.number().int().nonnegative(),
    /** The calling process, for the trace. */
    process: z.string().min(1).optional(),
  }),
  z.strictObject({
    /** Unbind a device from iommufd at its cdev fd's close (the `unbind-device` op). */
    op: z.literal("unbind-device"),
    /** The device. */
    device: z.string().min(1),
  }),
]);

/**
 * An action for iommufd's `act` (see {@link iommufdActionSchema}).
 *
 * @category uAPI
 */
export type IommufdAction = z.output<typeof iommufdActionSchema>;

/**
 * iommufd's `act`: runs one {@link IommufdAction} as a step of the World.
 *
 * @param m - the machine.
 * @param world - the world.
 * @param action - the action, validated here (`EINVAL` when malformed).
 * @returns done, the errno with the world unchanged, or blocked when the
 *   ioctl would sleep on a dma-buf's reservation lock (the kernel sleeps;
 *   the scheduler retries).
 */
export function iommufdAct(m: Machine, world: World, action: IommufdAction): StepOutcome {
  return (
    match(action)
      .returnType<StepOutcome>()
      // The action carries the options' fields under their names: passed as
      // they are, with no object built per call (a spread that adds a field
      // costs V8 about a microsecond).
      .with({ op: "ioctl" }, (a) => iommufdIoctl(m, world, a.number, a.buffer, a))
      .with({ op: "vfio-cdev-ioctl" }, (a) =>
        vfioCdevIoctl(m, world, a.device, a.number, a.buffer, a),
      )
      .with({ op: "attach-device" }, (a) =>
        iommufdAttachDevice(
          m,
          world,
          a.device,
          a.ioas,
          a.newDomain === true ? { newDomain: true } : {},
        ),
      )
      .with({ op: "detach-device" }, (a) => iommufdDetachDevice(m, world, a.device))
      .with({ op: "unbind-device" }, (a) => iommufdUnbindDevice(m, world, a.device))
      .with({ op: "release-detach" }, (a) => iommufdReleaseDetach(m, world, a.att))
      .with({ op: "import-capability" }, (a) =>
        iommufdImportCapabilityCall(m, world, a.buf, a.process),
      )
      .exhaustive()
  );
}

/** What each iommufd op models in the kernel. */
export const IOMMUFD_OP_MODELS = {
  ioctl: "ioctl() on the iommufd fd, by number, with the argument struct's bytes",
  "attach-device": "iommufd_device_attach() (VFIO_DEVICE_ATTACH_IOMMUFD_PT)",
  "vfio-cdev-ioctl":
    "ioctl() on a VFIO device cdev fd: VFIO_DEVICE_BIND_IOMMUFD, VFIO_DEVICE_ATTACH_IOMMUFD_PT, VFIO_DEVICE_DETACH_IOMMUFD_PT",
  "detach-device": "iommufd_device_detach() (VFIO_DEVICE_DETACH_IOMMUFD_PT)",
  "release-detach":
    "the end of iopt_release_pages in 6.19.0-7.1.4: dma_buf_detach() and dma_buf_put() after the pages state was destroyed",
  "unbind-device":
    "vfio_df_unbind_iommufd() at the device cdev fd's close (iommufd_device_unbind())",
  "import-capability":
    "PROPOSAL, no kernel uAPI: whether IOMMU_IOAS_MAP_FILE would import a dma-buf, and the errno if not",
} as const;

/**
 * The iommufd entry points that could run now with live arguments (for
 * core's `candidateOps`): attaching each device behind an IOMMU to each
 * IOAS, and detaching each attached device. The ioctls need byte buffers
 * and are generated by their callers from the uAPI structs.
 *
 * @param m - the machine.
 * @param w - the world.
 * @returns the ops, as `driver` ops of iommufd.
 */
export function iommufdCandidates(m: Machine, w: World): readonly Op[] {
  const objects = objectsOf(m, w);
  const ops: Op[] = [];
  for (const d of m.topology.devices) {
    if (!d.iommu) continue;
    for (const [id, io] of objects.entries()) {
      if (io.kind !== "ioas") continue;
      ops.push({
        kind: "driver",
        driver: IOMMUFD,
        action: { op: "attach-device", device: d.id, ioas: id },
      });
    }
  }
  for (const d of attachedDevices(m, w)) {
    ops.push({
      kind: "driver",
      driver: IOMMUFD,
      action: { op: "detach-device", device: d.device },
    });
  }
  return ops;
}
