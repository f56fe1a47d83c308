import { step } from "@dmabuf-ref/core";
import type { VmmSession } from "./session.js";

/**
 * The GPU driver exports a buffer object as a dma-buf (`drm_gem_prime_export`
 * of a BO, kernel-model §1.1), through core's `export` op.
 *
 * @param s - the session (its world gains the BO).
 * @param size - bytes.
 * @param placement - where the BO lives.
 * @returns the dma-buf fd.
 */
export function exportGpuBo(s: VmmSession, size: bigint, placement: "vram" | "system"): number {
  let fd: number | undefined;
  s.apply((w) => {
    const r = step(s.machine, w, {
      kind: "export",
      exporter: "gpu",
      owner: "gpu0",
      args: { size, placement },
    });
    if (r.status !== "done" || r.created === undefined) throw new Error("GPU export failed");
    fd = r.created;
    return r;
  });
  if (fd === undefined) throw new Error("GPU export created nothing");
  return fd;
}
