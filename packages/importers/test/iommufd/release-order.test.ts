/**
 * How `iopt_release_pages` lets go of a dma-buf, by profile (kernel-model
 * §3.3, §8.1): v7.2 and 7.1.5 lock resv, unpin, unlock, detach, put, and
 * only then destroy the pages state (e745cd2c749e, f2d70dbd3dce);
 * 7.1.0-7.1.4 unpin without resv (CVE-2026-80633) and, like 6.19.0 on,
 * destroy the pages state before `dma_buf_detach` (CVE-2026-74328), so an
 * invalidate in between locks a destroyed mutex.
 */
import { describe, expect, it } from "vitest";
import { linux619, linux71, linux710, mustBuf, pendingOps, step } from "@dmabuf-ref/core";
import type { Machine, Profile, World } from "@dmabuf-ref/core";
import { mapFileOk, revoke, unmapOk, vfioSetup } from "./fixtures.js";

/** A VFIO buffer mapped into the IOAS and unmapped again, under `profile`. */
function mappedThenUnmapped(profile: Profile): { m: Machine; world: World; buf: number } {
  const { m, world, ioas, buf } = vfioSetup(profile);
  const mapped = mapFileOk(m, world, { ioas, fd: buf, length: 0x4000n });
  const w = unmapOk(m, mapped.world, ioas, mapped.iova, 0x4000n).world;
  return { m, world: w, buf };
}

function rulesBroken(w: World): readonly string[] {
  return [...w.violations.values()].map((v) => v.rule);
}

describe("iopt_release_pages, fixed order (linux-7.1 = 7.1.5+, linux-7.2)", () => {
  it("unmapping the last area of a dma-buf unpins under resv and detaches at once: no violation, nothing pending", () => {
    const { m, world, buf } = mappedThenUnmapped(linux71);
    expect(rulesBroken(world)).toEqual([]);
    expect(pendingOps(m, world)).toEqual([]);
    expect(mustBuf(world, buf).attachments).toEqual([]);
  });
});

describe("iopt_release_pages, 7.1.0-7.1.4 (linux-7.1.0)", () => {
  it("dma_buf_unpin without resv is the violation dma_resv_assert_held reports", () => {
    const { world } = mappedThenUnmapped(linux710);
    expect(rulesBroken(world)).toContain("dma_buf_unpin() holds dmabuf->resv");
  });

  it("the pages state is destroyed before dma_buf_detach: the attachment stays until the release-detach continuation runs", () => {
    const { m, world, buf } = mappedThenUnmapped(linux710);
    const att = mustBuf(world, buf).attachments[0];
    expect(att).toBeDefined();
    const ops = pendingOps(m, world);
    expect(ops).toEqual([
      { kind: "driver", driver: "iommufd", action: { op: "release-detach", att } },
    ]);
    const [op] = ops;
    if (op === undefined) return;
    const r = step(m, world, op);
    expect(r.status).toBe("done");
    if (r.status !== "done") return;
    expect(mustBuf(r.world, buf).attachments).toEqual([]);
    expect(pendingOps(m, r.world)).toEqual([]);
  });

  it("a revoke between the destroy and the detach calls iopt_revoke_notify on destroyed pages: a use-after-destroy violation", () => {
    const { m, world, buf } = mappedThenUnmapped(linux710);
    const w = revoke(m, world, buf);
    expect(rulesBroken(w)).toContain(
      "iopt_revoke_notify locks pages->mutex of pages that still exist (f2d70dbd3dce)",
    );
  });
});

describe("iopt_release_pages, 6.19 (linux-6.19: no pin, pages state destroyed first)", () => {
  it("nothing is unpinned, but a revoke before the late detach hits the destroyed pages state", () => {
    const { m, world, buf } = mappedThenUnmapped(linux619);
    expect(rulesBroken(world)).toEqual([]);
    expect(pendingOps(m, world)).toHaveLength(1);
    expect(rulesBroken(revoke(m, world, buf))).toContain(
      "iopt_revoke_notify locks pages->mutex of pages that still exist (f2d70dbd3dce)",
    );
  });
});
