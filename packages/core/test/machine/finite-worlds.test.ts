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
  hashWorld,
  importerHolder,
  payloadAs,
  pendingOps,
  referenceMachine,
  refExporterPriv,
  sgt,
  step,
  worldsEqual,
} from "@dmabuf-ref/core";
import type { Machine, Op, RegionStatus, World } from "@dmabuf-ref/core";

const EXPORTER_HOLDER = "exp0";

/** The protocol's own ops that are enabled in a world (a correct importer's and exporter's moves). */
function protocolOps(
  w: World,
  buf: number,
  devices: readonly string[],
  waitsForOwnFences = true,
): Op[] {
  const ops: Op[] = [];
  const b = w.bufs.get(buf);
  if (b === undefined || b.released) return ops;
  for (const device of devices) {
    const att = [...w.atts.entries()].find(([, a]) => a.device === device);
    if (att === undefined) {
      if (b.fds > 0)
        ops.push({ kind: "attach", buf, importer: "ref-importer", device, dynamic: true });
      continue;
    }
    const [id, a] = att;
    const holder = importerHolder("ref-importer", id);
    if (b.resvHolder === null) ops.push({ kind: "lock", buf, holder });
    // A correct importer unmaps or detaches only once its own fences signalled.
    const inFlight = [...w.jobs.values()].some((j) => j.att === id);
    const busy = waitsForOwnFences && inFlight;
    if (b.resvHolder === holder) {
      ops.push({ kind: "unlock", buf, holder });
      if (a.mapping === null) ops.push({ kind: "map", att: id, holder });
      else if (!busy) ops.push({ kind: "unmap", att: id, holder });
      if (a.mapping !== null && !a.invalidated && !inFlight) {
        const addr = payloadAs(sgt, a.mapping.payload).entries[0]?.dmaAddress;
        if (addr !== undefined)
          ops.push({ kind: "dma-submit", att: id, addr, len: 8n, dir: "write", holder });
      }
    }
    for (const [job, j] of w.jobs.entries()) {
      if (j.att !== id) continue;
      ops.push({ kind: "dma-access", job }, { kind: "signal", job });
    }
    if (a.mapping === null && !busy && b.resvHolder === null) ops.push({ kind: "detach", att: id });
  }
  if (w.tasks.size === 0 && b.fds > 0) {
    if (b.revoked === "usable") {
      ops.push({ kind: "revoke", buf, permanent: false, by: `${EXPORTER_HOLDER} FLR` });
      ops.push({ kind: "revoke", buf, permanent: true, by: `${EXPORTER_HOLDER} close` });
    } else if (b.revoked === "temporary") {
      const region = regionOf(w, buf);
      if (region !== undefined) {
        ops.push({
          kind: "region",
          region: region.id,
          status: region.status === "live" ? "inaccessible" : "live",
          by: `${EXPORTER_HOLDER} FLR`,
        });
        if (region.status === "live")
          ops.push({ kind: "unrevoke", buf, by: `${EXPORTER_HOLDER} FLR` });
      }
      ops.push({ kind: "revoke", buf, permanent: true, by: `${EXPORTER_HOLDER} close` });
    } else {
      ops.push({ kind: "close", buf });
    }
  }
  return ops;
}

function regionOf(w: World, buf: number): { id: string; status: RegionStatus } | undefined {
  const b = w.bufs.get(buf);
  const priv = b === undefined ? undefined : refExporterPriv(b);
  for (const r of w.regions.values()) if (r.id === priv?.region) return r;
  return undefined;
}

/** Breadth-first search over canonical worlds; returns the number of distinct worlds and violations seen. */
function explore(
  m: Machine,
  w0: World,
  opsAt: (w: World) => readonly Op[],
  limit: number,
): {
  states: number;
  transitions: number;
  violations: number;
  kinds: string[];
  complete: boolean;
} {
  const seen = new Map<number, World[]>();
  const add = (w: World): boolean => {
    const h = hashWorld(w);
    const bucket = seen.get(h);
    if (bucket === undefined) {
      seen.set(h, [w]);
      return true;
    }
    if (bucket.some((x) => worldsEqual(x, w))) return false;
    bucket.push(w);
    return true;
  };
  add(w0);
  let frontier = [w0];
  let states = 1;
  let transitions = 0;
  let violations = 0;
  const kinds = new Set<string>();
  while (frontier.length > 0) {
    const next: World[] = [];
    for (const w of frontier) {
      for (const op of [...opsAt(w), ...pendingOps(m, w)]) {
        const r = step(m, w, op);
        if (r.status !== "done") continue;
        transitions++;
        if (!add(r.world)) continue;
        states++;
        if (r.world.violations.size > 0) {
          violations++;
          for (const v of r.world.violations.values()) kinds.add(v.kind);
        }
        if (states >= limit)
          return { states, transitions, violations, kinds: [...kinds].sort(), complete: false };
        next.push(r.world);
      }
    }
    frontier = next;
  }
  return { states, transitions, violations, kinds: [...kinds].sort(), complete: true };
}

function start(): { m: Machine; w: World; buf: number } {
  const m = referenceMachine();
  const r = step(m, boot(m), {
    kind: "export",
    exporter: "ref-exporter",
    owner: EXPORTER_HOLDER,
    args: { size: 0x2000 },
  });
  if (r.status !== "done" || r.created === undefined) throw new Error("export failed");
  return { m, w: r.world, buf: r.created };
}

describe("the reference revoke protocol has finitely many canonical worlds", () => {
  it.each([
    { importers: 1, devices: ["dev0"], states: 124 },
    { importers: 2, devices: ["dev0", "dev1"], states: 2805 },
  ])(
    "with $importers dynamic importer(s) the breadth-first exploration ends after $states worlds, none with a violation",
    ({ devices, states }) => {
      const { m, w, buf } = start();
      const a = explore(m, w, (x) => protocolOps(x, buf, devices), 200_000);
      expect(a.complete).toBe(true);
      expect(a.states).toBe(states);
      expect(a.violations).toBe(0);
      expect(a.kinds).toEqual([]);
      const b = explore(m, w, (x) => protocolOps(x, buf, devices), 200_000);
      expect(b).toEqual(a);
    },
  );

  it("an importer that unmaps while its own DMA is in flight is caught in the same exploration", () => {
    const { m, w, buf } = start();
    const a = explore(m, w, (x) => protocolOps(x, buf, ["dev0", "dev1"], false), 200_000);
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
