import * as z from "zod";
import { blocked, done, failed, kernelError } from "@dmabuf-ref/core";
import type { Machine, StepOutcome, World } from "@dmabuf-ref/core";
import { match } from "ts-pattern";
import { iommufdAttachDevice, iommufdDetachDevice } from "./device.js";
import { iommufdIoctl } from "./ioctl.js";

/**
 * zod schema of the actions a core `driver` op may ask of iommufd, so
 * scripts and the explorer can interleave iommufd calls with revokes and
 * device DMA.
 */
export const iommufdActionSchema = z.discriminatedUnion("kind", [
  z.object({
    /** An ioctl on the iommufd fd ({@link iommufdIoctl}). */
    kind: z.literal("ioctl"),
    /** The ioctl number, e.g. `IOMMU_IOAS_MAP_FILE`. */
    number: z.number().int().nonnegative(),
    /** The argument struct's bytes. */
    buffer: z.instanceof(Uint8Array),
    /** The calling process, for the trace. */
    process: z.string().min(1).optional(),
  }),
  z.object({
    /** Attach a device to an IOAS ({@link iommufdAttachDevice}). */
    kind: z.literal("attach-device"),
    /** The device. */
    device: z.string().min(1),
    /** The IOAS id. */
    ioas: z.number().int().positive(),
    /** Give it a domain of its own. */
    newDomain: z.boolean().optional(),
  }),
  z.object({
    /** Detach a device from its IOAS ({@link iommufdDetachDevice}). */
    kind: z.literal("detach-device"),
    /** The device. */
    device: z.string().min(1),
  }),
]);

/** An action for iommufd's `act` (see {@link iommufdActionSchema}). */
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
export function iommufdAct(m: Machine, world: World, action: unknown): StepOutcome {
  const parsed = iommufdActionSchema.safeParse(action);
  if (!parsed.success) {
    return failed(
      world,
      kernelError("EINVAL", `bad iommufd action: ${parsed.error.issues[0]?.message ?? ""}`),
    );
  }
  return match(parsed.data)
    .returnType<StepOutcome>()
    .with({ kind: "ioctl" }, (a) => {
      const r = iommufdIoctl(
        m,
        world,
        a.number,
        a.buffer,
        a.process === undefined ? {} : { process: a.process },
      );
      return match(r)
        .returnType<StepOutcome>()
        .with({ status: "done" }, (d) => done(d.world, d.events))
        .with({ status: "failed" }, (f) => failed(world, f.error))
        .with({ status: "blocked" }, (b) => blocked(world, "resv", b.reason))
        .exhaustive();
    })
    .with({ kind: "attach-device" }, (a) =>
      iommufdAttachDevice(
        m,
        world,
        a.device,
        a.ioas,
        a.newDomain === true ? { newDomain: true } : {},
      ),
    )
    .with({ kind: "detach-device" }, (a) => iommufdDetachDevice(m, world, a.device))
    .exhaustive();
}
