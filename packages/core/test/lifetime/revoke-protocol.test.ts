import { describe, expect, it } from "vitest";
import {
  boot,
  owedUnmapHolder,
  referenceMachine,
  runScript,
  settle,
  step,
  worldsEqual,
} from "@dmabuf-ref/core";
import type { TraceEvent } from "@dmabuf-ref/core";
import { createdId, kinds, mappedWorld, ok, stepSettled } from "./setup.js";

const m = referenceMachine();

function dmaOutcomes(events: readonly TraceEvent[]): string[] {
  return events.flatMap((e) => (e.kind === "dma" ? [e.outcome] : []));
}

describe("the revoke sequence (kernel-model §1.3)", () => {
  it("runs lock resv -> revoked -> invalidate -> wait fences -> unlock -> wait for unmaps", () => {
    const s = mappedWorld(m, boot(m));
    const run = stepSettled(m, s.world, {
      kind: "revoke",
      buf: s.buf,
      permanent: false,
      by: "reset",
    });
    const order = run.events
      .filter((e) => ["resv", "revoked", "invalidate", "wait", "unmap", "task"].includes(e.kind))
      .map((e) =>
        e.kind === "resv"
          ? `${e.holder}:${e.action}`
          : e.kind === "wait"
            ? `wait ${e.what} ${e.state}`
            : e.kind === "task"
              ? `task ${e.phase}`
              : e.kind,
      );
    expect(order).toEqual([
      "task start",
      "exp0#reset:lock",
      "revoked",
      "invalidate",
      "wait fences done",
      "exp0#reset:unlock",
      "wait unmaps blocked",
      `${owedUnmapHolder("ref-importer", s.att)}:lock`,
      "unmap",
      "wait unmaps done",
      "task complete",
      `${owedUnmapHolder("ref-importer", s.att)}:unlock`,
    ]);
    expect(run.world.bufs.get(s.buf)?.revoked).toBe("temporary");
    expect(run.world.violations.size).toBe(0);
  });

  it("between invalidate and the fence signalling, the importer's in-flight DMA succeeds and is no violation", () => {
    const s = mappedWorld(m, boot(m));
    const submitted = runScript(m, s.world, [
      { kind: "lock", buf: s.buf, holder: s.holder },
      { kind: "dma-submit", att: s.att, addr: s.dma, len: 64n, dir: "write", holder: s.holder },
      { kind: "unlock", buf: s.buf, holder: s.holder },
      { kind: "revoke", buf: s.buf, permanent: false, by: "reset" },
    ]);
    const job = submitted.results[1]?.created;
    if (job === undefined) throw new Error("no job");
    // The revoke is blocked on the job's fence, after the invalidate.
    expect(kinds(submitted.events)).toContain("invalidate");
    expect(submitted.events.at(-1)).toMatchObject({
      kind: "wait",
      what: "fences",
      state: "blocked",
      outstanding: 1,
    });
    const during = runScript(m, submitted.world, [
      { kind: "dma-access", job },
      { kind: "dma-access", job },
      { kind: "signal", job },
    ]);
    expect(dmaOutcomes(during.events)).toEqual(["ok", "ok"]);
    expect(during.world.violations.size).toBe(0);
    expect(during.world.tasks.size).toBe(0);
  });

  it("after the revoke completes, DMA through the old mapping faults in the IOMMU: never a silent success, never a violation", () => {
    const s = mappedWorld(m, boot(m));
    const revoked = stepSettled(m, s.world, {
      kind: "revoke",
      buf: s.buf,
      permanent: false,
      by: "reset",
    });
    expect(revoked.world.atts.get(s.att)?.mapping).toBeNull();
    const after = runScript(m, revoked.world, [
      { kind: "dma", device: "dev0", addr: s.dma, len: 64n, dir: "read" },
      { kind: "dma", device: "dev0", addr: s.dma, len: 64n, dir: "write" },
    ]);
    expect(dmaOutcomes(after.events)).toEqual(["fault", "fault"]);
    expect(after.world.violations.size).toBe(0);
  });

  it("an importer that keeps using a mapping after its unmap returns produces a violation", () => {
    // dev2 has no IOMMU: nothing stops its DMA, so only the oracle sees it.
    const s = mappedWorld(m, boot(m), "dev2");
    const revoked = stepSettled(m, s.world, {
      kind: "revoke",
      buf: s.buf,
      permanent: false,
      by: "reset",
    });
    expect(revoked.world.atts.get(s.att)?.mapping).toBeNull();
    const late = ok(m, revoked.world, {
      kind: "dma",
      device: "dev2",
      addr: s.dma,
      len: 64n,
      dir: "read",
    });
    expect(dmaOutcomes(late.events)).toEqual(["violation"]);
    expect([...late.world.violations.values()]).toEqual([
      expect.objectContaining({ kind: "no-grant", actor: "dev2" }),
    ]);
  });

  it("after the fence signals and before unmap only read-and-discard is allowed: a write is a violation", () => {
    const s = mappedWorld(m, boot(m), "dev2");
    // Stop the importer's own unmap by holding resv elsewhere after the revoke.
    const r = ok(m, s.world, { kind: "revoke", buf: s.buf, permanent: false, by: "reset" });
    let w = r.world;
    const task = createdId(r);
    for (let i = 0; i < 5; i++) w = ok(m, w, { kind: "task", task }).world; // up to and including unlock
    expect(w.atts.get(s.att)?.invalidated).toBe(true);
    const read = ok(m, w, { kind: "dma", device: "dev2", addr: s.dma, len: 8n, dir: "read" });
    expect(dmaOutcomes(read.events)).toEqual(["ok"]);
    const write = ok(m, read.world, {
      kind: "dma",
      device: "dev2",
      addr: s.dma,
      len: 8n,
      dir: "write",
    });
    expect(dmaOutcomes(write.events)).toEqual(["violation"]);
    expect([...write.world.violations.values()][0]).toMatchObject({
      kind: "write-after-invalidate",
    });
  });

  it("starting new DMA through a mapping after its invalidate is a contract violation", () => {
    const s = mappedWorld(m, boot(m));
    const r = ok(m, s.world, { kind: "revoke", buf: s.buf, permanent: false, by: "reset" });
    let w = r.world;
    const task = createdId(r);
    for (let i = 0; i < 5; i++) w = ok(m, w, { kind: "task", task }).world;
    const late = runScript(m, w, [
      { kind: "lock", buf: s.buf, holder: "rogue" },
      { kind: "dma-submit", att: s.att, addr: s.dma, len: 8n, dir: "read", holder: "rogue" },
    ]);
    expect([...late.world.violations.values()]).toContainEqual(
      expect.objectContaining({
        kind: "contract",
        rule: "no new DMA through a mapping after invalidate_mappings()",
      }),
    );
  });
});

describe("un-revoke (kernel-model §2.5)", () => {
  it("un-revoke sends an invalidate, and nothing re-maps on its own", () => {
    const s = mappedWorld(m, boot(m));
    const revoked = stepSettled(m, s.world, {
      kind: "revoke",
      buf: s.buf,
      permanent: false,
      by: "reset",
    });
    const back = stepSettled(m, revoked.world, {
      kind: "unrevoke",
      buf: s.buf,
      by: "reset done",
    });
    expect(kinds(back.events)).toContain("invalidate");
    expect(back.events.filter((e) => e.kind === "revoked")).toEqual([
      expect.objectContaining({ state: "usable" }),
    ]);
    // The invalidate comes while still revoked (v7 order), before revoked = usable.
    expect(kinds(back.events).indexOf("invalidate")).toBeLessThan(
      kinds(back.events).indexOf("revoked"),
    );
    expect(kinds(back.events)).not.toContain("map");
    expect(back.world.atts.get(s.att)?.mapping).toBeNull();
    // The importer may map again when it chooses to.
    const again = runScript(m, back.world, [
      { kind: "lock", buf: s.buf, holder: s.holder },
      { kind: "map", att: s.att, holder: s.holder },
      { kind: "unlock", buf: s.buf, holder: s.holder },
    ]);
    expect(again.results.map((x) => x.status)).toEqual(["done", "done", "done"]);
  });

  it("a permanent revoke never comes back: un-revoke is ENODEV and a second revoke EBADFD", () => {
    const s = mappedWorld(m, boot(m));
    const gone = stepSettled(m, s.world, {
      kind: "revoke",
      buf: s.buf,
      permanent: true,
      by: "close",
    });
    expect(gone.world.bufs.get(s.buf)?.revoked).toBe("permanent");
    const un = step(m, gone.world, { kind: "unrevoke", buf: s.buf, by: "x" });
    expect(un.status === "failed" ? un.error.errno : un.status).toBe("ENODEV");
    const again = step(m, gone.world, { kind: "revoke", buf: s.buf, permanent: true, by: "x" });
    expect(again.status === "failed" ? again.error.errno : again.status).toBe("EBADFD");
  });

  it("map and attach of a revoked reference buffer fail with ENODEV and change nothing", () => {
    const s = mappedWorld(m, boot(m));
    const revoked = stepSettled(m, s.world, {
      kind: "revoke",
      buf: s.buf,
      permanent: false,
      by: "reset",
    });
    const w = runScript(m, revoked.world, [{ kind: "lock", buf: s.buf, holder: s.holder }]).world;
    const map = step(m, w, { kind: "map", att: s.att, holder: s.holder });
    expect(map.status === "failed" ? map.error.errno : map.status).toBe("ENODEV");
    expect(map.world).toBe(w);
    const attach = step(m, revoked.world, {
      kind: "attach",
      buf: s.buf,
      importer: "ref-importer",
      device: "dev1",
      dynamic: true,
    });
    expect(attach.status === "failed" ? attach.error.errno : attach.status).toBe("ENODEV");
    expect(worldsEqual(attach.world, revoked.world)).toBe(true);
  });
});

describe("waiting for unmaps", () => {
  it("settles to no outstanding work once the importer has unmapped", () => {
    const mapped = mappedWorld(m, boot(m));
    const r = stepSettled(m, mapped.world, {
      kind: "revoke",
      buf: mapped.buf,
      permanent: false,
      by: "reset",
    });
    const s = settle(m, r.world);
    expect(s.events).toEqual([]);
    expect(s.world.tasks.size).toBe(0);
  });
});
