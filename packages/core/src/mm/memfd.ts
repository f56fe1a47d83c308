/*
 * mm/memfd.c (`memfd_create()`, then `ftruncate()` to its size, as VMMs
 * back guest RAM: OpenVMM maps it with IOMMU_IOAS_MAP_FILE, kernel-model
 * §8.2) and `close()` of an fd the mm model knows: a memfd, or a dma-buf
 * (core's `close`, lifetime/release.ts).
 */
import { err, ok } from "../errors/result.js";
import type { Result } from "../errors/result.js";
import { closeBuf } from "../lifetime/release.js";
import type { Machine } from "../machine/machine.js";
import { hex } from "../trace/hex.js";
import type { World } from "../world/world.js";
import { MAX_MEMFDS, MAX_MEMFD_SIZE, memfdFd, memfdIdOfFd } from "./layout.js";
import type { MmDone } from "./mmap.js";
import { addMemfd, ensureProcess, reapMemfd } from "./state.js";
import { worldWith } from "../world/world.js";

/**
 * `memfd_create()` followed by `ftruncate(fd, size)`: a shmem file of
 * `size` bytes whose pages are a region of their own
 * (`<process>.memfd<id>`). Its fd is `MEMFD_FD_BASE` + its id. More than
 * the model's largest file (16 TiB) is `EFBIG`; more memfds than the model
 * holds `EMFILE`.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param process - the calling process.
 * @param size - the file size in bytes.
 * @returns the world and the fd, or the errno with nothing changed.
 * @kernel mm/memfd.c memfd_create
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MEMFD_FD_BASE, boot, memfdCreate, referenceMachine } from "@dmabuf-ref/core";
 *
 * // memfd_create() + ftruncate(4 GiB): guest RAM for a VMM.
 * const m = referenceMachine();
 * const r = memfdCreate(m, boot(m), "vmm", 1n << 32n);
 * assert.ok(r.ok);
 * assert.equal(r.value.ret, BigInt(MEMFD_FD_BASE + 1));
 * // Past the model's largest file (16 TiB): EFBIG.
 * const big = memfdCreate(m, boot(m), "vmm", 1n << 45n);
 * assert.equal(big.ok ? "ok" : big.error.errno, "EFBIG");
 * ```
 * @category Drivers
 */
export function memfdCreate(m: Machine, w: World, process: string, size: bigint): Result<MmDone> {
  if (size > MAX_MEMFD_SIZE) {
    return err("EFBIG", () => `ftruncate to ${hex(size)}: larger than the model's largest memfd`);
  }
  const { world } = ensureProcess(m.topology, w, process);
  const id = world.memfds.lowestFreeId();
  if (id > MAX_MEMFDS) return err("EMFILE", "too many memfds open");
  const created = addMemfd(m.topology, world, id, { process, size, open: true, pins: 0 });
  const fd = memfdFd(id);
  return ok({
    world: created,
    events: [{ kind: "note", actor: process, text: `memfd_create size ${hex(size)} = fd ${fd}` }],
    ret: BigInt(fd),
  });
}

/**
 * `close(fd)`: a memfd's fd closes (its pages live on while a VMA maps
 * them or something pins them); a dma-buf fd is core's `close` (the last
 * reference releases the buffer); any other number is `EBADF`.
 *
 * @param m - the machine.
 * @param w - the world.
 * @param process - the calling process.
 * @param fd - the fd.
 * @returns the world, or the errno with nothing changed.
 * @kernel fs/open.c close
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, closeFd, memfdCreate, referenceMachine } from "@dmabuf-ref/core";
 *
 * const m = referenceMachine();
 * const w0 = boot(m);
 * const mfd = memfdCreate(m, w0, "vmm", 0x1000n);
 * assert.ok(mfd.ok);
 * const closed = closeFd(m, mfd.value.world, "vmm", Number(mfd.value.ret));
 * assert.ok(closed.ok);
 * assert.equal(closed.value.world.memfds.get(1), undefined);
 * // An fd nothing opened: EBADF.
 * const bad = closeFd(m, w0, "vmm", 42);
 * assert.equal(bad.ok ? "ok" : bad.error.errno, "EBADF");
 * ```
 * @category Drivers
 */
export function closeFd(m: Machine, w: World, process: string, fd: number): Result<MmDone> {
  const id = memfdIdOfFd(fd);
  if (id !== undefined) {
    const memfd = w.memfds.get(id);
    if (memfd === undefined || !memfd.open) return err("EBADF", () => `fd ${fd} is not open`);
    const closed = reapMemfd(
      worldWith(w, { memfds: w.memfds.set(id, { ...memfd, open: false }) }),
      id,
    );
    return ok({
      world: closed,
      events: [{ kind: "note", actor: process, text: `close memfd fd ${fd}` }],
      ret: 0n,
    });
  }
  const r = closeBuf(m, w, fd);
  switch (r.status) {
    case "done":
      return ok({ world: r.world, events: r.events, ret: 0n });
    case "failed":
      return { ok: false, error: r.error };
    case "blocked":
      throw new Error("mm: close of a dma-buf fd does not sleep");
    default: {
      const never: never = r;
      throw new Error(`mm: unknown outcome ${JSON.stringify(never)}`);
    }
  }
}
