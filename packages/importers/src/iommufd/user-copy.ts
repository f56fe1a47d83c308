/*
 * copy_to_user / copy_from_user as the iommufd handlers use them on the
 * pointers their structs carry (`allowed_iovas`, `data_uptr`). The model
 * keeps no user memory contents: what userspace wrote before the call comes
 * with the call (`user` regions), what the kernel writes goes back in
 * `returned.written`. Model-only file.
 */
import * as z from "zod";
import { err, hex, ok } from "@dmabuf-ref/core";
import type { Result, UserWrite } from "@dmabuf-ref/core";
import { PAGE_SIZE, USER_ADDRESS_END } from "./constants.js";

/** zod schema of a region of user memory the caller filled before the ioctl. */
export const userRegionSchema = z.strictObject({
  /** Its first user address. */
  addr: z.bigint().nonnegative(),
  /** Its contents. */
  bytes: z.instanceof(Uint8Array),
});

/** User memory the kernel may read through a pointer field (see {@link userRegionSchema}). */
export type UserRegion = z.output<typeof userRegionSchema>;

/** Who makes an iommufd ioctl and what user memory it filled for the kernel to read. */
export interface IoctlCall {
  /** The calling process (its mm is what `IOMMU_IOAS_MAP` pins). */
  readonly process: string;
  /** User memory the caller filled, readable through the struct's pointers. */
  readonly user: readonly UserRegion[];
}

/** The call of a handler invoked directly: process `"vmm"`, no user memory. */
export const DEFAULT_CALL: IoctlCall = Object.freeze({ process: "vmm", user: Object.freeze([]) });

/**
 * Whether `[addr, addr + len)` is user memory the kernel can write: not
 * page 0 (never mapped, so a NULL pointer faults) and below the user
 * address limit (`access_ok`).
 *
 * @param addr - the user address.
 * @param len - bytes.
 * @returns true when `copy_to_user` succeeds.
 */
export function userWritable(addr: bigint, len: bigint): boolean {
  return addr >= PAGE_SIZE && addr + len <= USER_ADDRESS_END;
}

/**
 * `copy_to_user(addr, bytes)`: the write, or `EFAULT`.
 *
 * @param addr - the user address.
 * @param bytes - what the kernel writes.
 * @returns the write to report, or `EFAULT`.
 */
export function copyToUser(addr: bigint, bytes: Uint8Array): Result<UserWrite> {
  if (!userWritable(addr, BigInt(bytes.length))) {
    return err("EFAULT", () => `copy_to_user to ${hex(addr)} (${bytes.length} bytes) faulted`);
  }
  return ok({ addr, bytes });
}

/**
 * `copy_from_user(addr, len)`: the bytes, when one region the caller
 * supplied holds all of them; otherwise `EFAULT` (a NULL pointer included).
 *
 * @param user - the regions the caller filled.
 * @param addr - the user address.
 * @param len - bytes.
 * @returns the bytes, or `EFAULT`.
 */
export function copyFromUser(
  user: readonly UserRegion[],
  addr: bigint,
  len: number,
): Result<Uint8Array> {
  if (len === 0) return ok(new Uint8Array(0));
  if (userWritable(addr, BigInt(len))) {
    for (const r of user) {
      const off = addr - r.addr;
      if (off >= 0n && off + BigInt(len) <= BigInt(r.bytes.length)) {
        return ok(r.bytes.slice(Number(off), Number(off) + len));
      }
    }
  }
  return err("EFAULT", () => `copy_from_user from ${hex(addr)} (${len} bytes) faulted`);
}
