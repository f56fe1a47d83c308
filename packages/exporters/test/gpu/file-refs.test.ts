/**
 * A dma-buf's fds are counted apart from the kernel's own file references
 * (kernel-model §1.1: the last `fput()` runs `release`). A GPU move takes a
 * reference of its own, like VFIO's `get_file_active()` before a revoke.
 */
import { describe, expect, it } from "vitest";
import { mustBuf, openFds, runScript, step } from "@dmabuf-ref/core";
import { attach, errnoOf, exportBuf, makeWorld, mustDo } from "./setup.js";

describe("fds and the kernel's file references (kernel-model §1.1)", () => {
  it("while a GPU move holds its own file reference, the one fd closes once and a second close is EBADF", () => {
    const { m, w } = makeWorld();
    const v = exportBuf(m, w, "gpu", "gpu0", { size: 0x10000n, placement: "vram" });
    const a = attach(m, v.world, v.buf, "ref-importer", "dev1");
    const holder = `ref-importer#attach ${a.att}`;
    const run = runScript(m, a.world, [
      { kind: "lock", buf: v.buf, holder },
      { kind: "map", att: a.att, holder },
      () => ({ kind: "dma-submit", att: a.att, addr: 0n, len: 0x10n, dir: "read", holder }),
      { kind: "unlock", buf: v.buf, holder },
      { kind: "driver", driver: "gpu", action: { op: "evict", buf: v.buf } },
    ]);
    // The move now waits for the fence, holding the buffer's file.
    expect(mustBuf(run.world, v.buf).resvHolder).toMatch(/^gpu0#ttm move/);
    expect(openFds(run.world, v.buf)).toBe(1);
    const closed = mustDo(step(m, run.world, { kind: "close", buf: v.buf })).world;
    expect(openFds(closed, v.buf)).toBe(0);
    expect(mustBuf(closed, v.buf).released).toBe(false);
    const again = step(m, closed, { kind: "close", buf: v.buf });
    expect(errnoOf(again)).toBe("EBADF");
    expect(again.world).toBe(closed);
  });
});
