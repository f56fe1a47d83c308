/**
 * The reference revoke protocol explored breadth-first to the end (DESIGN
 * §2a, "worlds are finite and canonical"): one buffer of the reference
 * exporter, one or two dynamic importers that attach, map, submit DMA,
 * unmap and detach as often as they like, and the exporter's temporary
 * revoke with a reset and un-revoke, and its close. Every interleaving of
 * those ops and of the kernel's own continuations (`pendingOps`) is tried;
 * worlds are deduplicated with `worldsEqual`. The search ends only because
 * the World repeats: ids come back as the kernel hands them out, epochs
 * and counters that nothing observes are not kept.
 */
import { describe, expect, it } from "vitest";
import {
  boot,
  exploreBreadthFirst,
  referenceMachine,
  revokeProtocolOps,
  revokeProtocolStart,
  step,
  worldsEqual,
} from "@dmabuf-ref/core";
import type { World } from "@dmabuf-ref/core";

describe("the reference revoke protocol has finitely many canonical worlds", () => {
  it.each([
    { importers: 1, devices: ["dev0"], states: 124 },
    { importers: 2, devices: ["dev0", "dev1"], states: 2805 },
  ])(
    "with $importers dynamic importer(s) the breadth-first exploration ends after $states worlds, none with a violation",
    ({ devices, states }) => {
      const { m, w, buf } = revokeProtocolStart();
      const a = exploreBreadthFirst(m, w, (x) => revokeProtocolOps(x, buf, devices), 200_000);
      expect(a.complete).toBe(true);
      expect(a.states).toBe(states);
      expect(a.violations).toBe(0);
      expect(a.kinds).toEqual([]);
      const b = exploreBreadthFirst(m, w, (x) => revokeProtocolOps(x, buf, devices), 200_000);
      expect(b).toEqual(a);
    },
  );

  it("an importer that unmaps while its own DMA is in flight is caught in the same exploration", () => {
    const { m, w, buf } = revokeProtocolStart();
    const a = exploreBreadthFirst(
      m,
      w,
      (x) => revokeProtocolOps(x, buf, ["dev0", "dev1"], false),
      200_000,
    );
    expect(a.complete).toBe(true);
    expect(a.violations).toBeGreaterThan(0);
    expect(a.kinds).toEqual(["write-after-invalidate"]);
  });
});

describe("freed memory is handed out again", () => {
  it("export, close, export: the second buffer takes the first's pages and the world repeats", () => {
    const m = referenceMachine();
    const exp = (w: World): { world: World; buf: number } => {
      const r = step(m, w, {
        kind: "export",
        exporter: "ref-exporter",
        owner: "exp0",
        args: { size: 0x4000n },
      });
      if (r.status !== "done" || r.created === undefined) throw new Error("export failed");
      return { world: r.world, buf: r.created };
    };
    const a = exp(boot(m));
    const closed = step(m, a.world, { kind: "close", buf: a.buf });
    expect(closed.status).toBe("done");
    if (closed.status !== "done") return;
    const b = exp(closed.world);
    expect(worldsEqual(b.world, a.world)).toBe(true);
  });
});
