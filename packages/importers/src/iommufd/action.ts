import * as z from "zod";
import { err, fail, ok } from "@dmabuf-ref/core";
import type { DriverStep, Result, World } from "@dmabuf-ref/core";
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
 * @param world - the world.
 * @param action - the action, validated here (`EINVAL` when malformed).
 * @returns the world and events, or the errno.
 *
 * @remarks
 * Core's `act` returns a `Result`, so it cannot say "blocked". An ioctl
 * that would sleep on a dma-buf's reservation lock is reported as `EAGAIN`
 * with a message saying so; it changed nothing and can simply be retried.
 * That errno is the model's, not the kernel's (the kernel sleeps).
 */
export function iommufdAct(world: World, action: unknown): Result<DriverStep> {
  const parsed = iommufdActionSchema.safeParse(action);
  if (!parsed.success) {
    return err("EINVAL", `bad iommufd action: ${parsed.error.issues[0]?.message ?? ""}`);
  }
  return match(parsed.data)
    .returnType<Result<DriverStep>>()
    .with({ kind: "ioctl" }, (a) => {
      const r = iommufdIoctl(
        world,
        a.number,
        a.buffer,
        a.process === undefined ? {} : { process: a.process },
      );
      return match(r)
        .returnType<Result<DriverStep>>()
        .with({ status: "done" }, (d) => ok({ world: d.world, events: d.events }))
        .with({ status: "failed" }, (f) => fail(f.error))
        .with({ status: "blocked" }, (b) =>
          err("EAGAIN", `model: the ioctl would sleep (${b.reason}); act() cannot block`),
        )
        .exhaustive();
    })
    .with({ kind: "attach-device" }, (a) =>
      iommufdAttachDevice(world, a.device, a.ioas, a.newDomain === true ? { newDomain: true } : {}),
    )
    .with({ kind: "detach-device" }, (a) => iommufdDetachDevice(world, a.device))
    .exhaustive();
}
