import { describe, expect, it } from "vitest";
import {
  boot,
  linux619,
  referenceExporter,
  referenceMachine,
  runScript,
  setRevoked,
  step,
} from "@dmabuf-ref/core";
import type { ExporterDriver, Machine, World } from "@dmabuf-ref/core";
import { createdId, mappedWorld, ok } from "./setup.js";

const m = referenceMachine();

function exported(m: Machine, w: World): { world: World; buf: number } {
  const r = ok(m, w, {
    kind: "export",
    exporter: "ref-exporter",
    owner: "exp0",
    args: { size: 0x2000 },
  });
  return { world: r.world, buf: createdId(r) };
}

function attached(
  m: Machine,
  w: World,
  dynamic: boolean,
): { world: World; buf: number; att: number } {
  const e = exported(m, w);
  const a = ok(m, e.world, {
    kind: "attach",
    buf: e.buf,
    importer: "ref-importer",
    device: "dev0",
    dynamic,
  });
  return { world: a.world, buf: e.buf, att: createdId(a) };
}

describe("the reservation lock is a contract (kernel-model §1.2, §7.3)", () => {
  it("map of a dynamic attachment without resv is a contract violation naming the rule", () => {
    const s = attached(m, boot(m), true);
    const r = ok(m, s.world, { kind: "map", att: s.att, holder: "ref-importer#x" });
    expect([...r.world.violations.values()]).toEqual([
      expect.objectContaining({
        kind: "contract",
        rule: "dma_buf_map_attachment() of a dynamic attachment holds dmabuf->resv",
      }),
    ]);
    expect(r.events.map((e) => e.kind)).toContain("violation");
  });

  it("unmap of a dynamic attachment without resv is a contract violation", () => {
    const s = mappedWorld(m, boot(m));
    const r = ok(m, s.world, { kind: "unmap", att: s.att, holder: s.holder });
    expect([...r.world.violations.values()]).toContainEqual(
      expect.objectContaining({
        rule: "dma_buf_unmap_attachment() of a dynamic attachment holds dmabuf->resv",
      }),
    );
  });

  it("a revoked-state change without resv is a contract violation", () => {
    const s = exported(m, boot(m));
    const r = setRevoked(s.world, s.buf, "temporary", "exp0");
    expect([...r.world.violations.values()]).toEqual([
      expect.objectContaining({
        kind: "contract",
        rule: "a dma-buf's revoked state changes only under dmabuf->resv",
      }),
    ]);
  });

  it("pin on a static attachment is a contract violation", () => {
    const s = attached(m, boot(m), false);
    const run = runScript(m, s.world, [
      { kind: "lock", buf: s.buf, holder: "static-user" },
      { kind: "pin", att: s.att, holder: "static-user" },
    ]);
    expect([...run.world.violations.values()]).toEqual([
      expect.objectContaining({
        kind: "contract",
        rule: "dma_buf_pin() is for dynamic importers (attach->importer_ops set)",
      }),
    ]);
  });

  it("a correct user holding resv for map, pin and fences records no violation", () => {
    const s = attached(m, boot(m), true);
    const h = "ref-importer#user";
    const run = runScript(m, s.world, [
      { kind: "lock", buf: s.buf, holder: h },
      { kind: "pin", att: s.att, holder: h },
      { kind: "map", att: s.att, holder: h },
      { kind: "unmap", att: s.att, holder: h },
      { kind: "unpin", att: s.att, holder: h },
      { kind: "unlock", buf: s.buf, holder: h },
    ]);
    expect(run.results.every((r) => r.status === "done")).toBe(true);
    expect(run.world.violations.size).toBe(0);
  });

  it("taking resv twice is EDEADLOCK and dropping a lock one does not hold is EPERM", () => {
    const s = exported(m, boot(m));
    const locked = ok(m, s.world, { kind: "lock", buf: s.buf, holder: "a" }).world;
    const twice = step(m, locked, { kind: "lock", buf: s.buf, holder: "a" });
    expect(twice.status === "failed" ? twice.error.errno : twice.status).toBe("EDEADLOCK");
    const other = step(m, locked, { kind: "lock", buf: s.buf, holder: "b" });
    expect(other.status).toBe("blocked");
    const wrong = step(m, locked, { kind: "unlock", buf: s.buf, holder: "b" });
    expect(wrong.status === "failed" ? wrong.error.errno : wrong.status).toBe("EPERM");
  });
});

describe("static attachments and pin-on-map (kernel-model §1.2)", () => {
  const pinning: ExporterDriver = {
    ...referenceExporter({ name: "pinning-exporter", region: "ram0" }),
    pin: (_m, world) => ({ ok: true, value: { world, events: [] } }),
    unpin: (_m, world) => ({ world, events: [] }),
  };

  function pinningAttach(
    m: Machine,
    w: World,
    dynamic: boolean,
  ): { world: World; buf: number; att: number } {
    const e = ok(m, w, {
      kind: "export",
      exporter: "pinning-exporter",
      owner: "exp1",
      args: { size: 0x1000 },
    });
    const buf = createdId(e);
    const a = ok(m, e.world, {
      kind: "attach",
      buf,
      importer: "ref-importer",
      device: "dev0",
      dynamic,
    });
    return { world: a.world, buf, att: createdId(a) };
  }

  it("map_unlocked of a static attachment pins first and unmap unpins, when the exporter has pin", () => {
    const m = referenceMachine({ exporters: [pinning] });
    const s = pinningAttach(m, boot(m), false);
    const mapped = ok(m, s.world, { kind: "map", att: s.att, holder: null });
    expect(mapped.events.map((e) => e.kind)).toEqual(["pin", "map"]);
    expect(mapped.world.atts.get(s.att)?.pins).toBe(1);
    const unmapped = ok(m, mapped.world, { kind: "unmap", att: s.att, holder: null });
    expect(unmapped.events.map((e) => e.kind)).toEqual(["unmap", "unpin"]);
    expect(unmapped.world.atts.get(s.att)?.pins).toBe(0);
    expect(unmapped.world.violations.size).toBe(0);
  });

  it("a dynamic attachment is not pinned on map under linux-7.1, but is under linux-6.19 (no move_notify)", () => {
    const h = "imp";
    const run = (m: Machine): string[] => {
      const s = pinningAttach(m, boot(m), true);
      const r = runScript(m, s.world, [
        { kind: "lock", buf: s.buf, holder: h },
        { kind: "map", att: s.att, holder: h },
      ]);
      return r.events.flatMap((e) => (e.kind === "pin" || e.kind === "map" ? [e.kind] : []));
    };
    expect(run(referenceMachine({ exporters: [pinning] }))).toEqual(["map"]);
    expect(run(referenceMachine({ exporters: [pinning], profile: linux619 }))).toEqual([
      "pin",
      "map",
    ]);
  });

  it("map_unlocked blocks while someone holds resv", () => {
    const m = referenceMachine({ exporters: [pinning] });
    const s = pinningAttach(m, boot(m), false);
    const locked = ok(m, s.world, { kind: "lock", buf: s.buf, holder: "other" }).world;
    expect(step(m, locked, { kind: "map", att: s.att, holder: null }).status).toBe("blocked");
  });
});

describe("detach and release", () => {
  it("detach of a mapped attachment is EBUSY and changes nothing", () => {
    const s = mappedWorld(m, boot(m));
    const r = step(m, s.world, { kind: "detach", att: s.att });
    expect(r.status === "failed" ? r.error.errno : r.status).toBe("EBUSY");
    expect(r.world).toBe(s.world);
  });

  it("the buffer is released only when the last fd and attachment are gone, and freed memory is a violation to reach", () => {
    const s = mappedWorld(m, boot(m), "dev2");
    const run = runScript(m, s.world, [
      { kind: "close", buf: s.buf },
      { kind: "lock", buf: s.buf, holder: s.holder },
      { kind: "unmap", att: s.att, holder: s.holder },
      { kind: "unlock", buf: s.buf, holder: s.holder },
      { kind: "detach", att: s.att },
      { kind: "dma", device: "dev2", addr: s.dma, len: 8n, dir: "read" },
    ]);
    expect(run.results.map((r) => r.status)).toEqual([
      "done",
      "done",
      "done",
      "done",
      "done",
      "done",
    ]);
    const kinds = run.events.map((e) => e.kind);
    expect(kinds.indexOf("release")).toBeGreaterThan(kinds.indexOf("detach"));
    expect([...run.world.violations.values()]).toEqual([
      expect.objectContaining({ kind: "access-after-revoke", actor: "dev2" }),
    ]);
    const closed = step(m, run.world, { kind: "close", buf: s.buf });
    expect(closed.status === "failed" ? closed.error.errno : closed.status).toBe("EBADF");
  });
});
