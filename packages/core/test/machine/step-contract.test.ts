/**
 * What every op of `step` promises, whatever it is asked (DESIGN §2a, §3.7):
 * a failed or blocked step returns the world it was given, unchanged; no
 * op throws on an input its schema accepts (bad input is an errno, never a
 * crash); and the plain-data form `{ op: NAME, ...fields }` reads back to
 * the same op.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  boot,
  importerHolder,
  nextOps,
  parseOp,
  plainOp,
  referenceMachine,
  settle,
  step,
  walk,
  worldsEqual,
} from "@dmabuf-ref/core";
import type { Machine, Op, OpKind, World } from "@dmabuf-ref/core";

const m = referenceMachine();

const picksArb = fc.array(fc.nat(), { maxLength: 40 });

const ALL_KINDS: readonly OpKind[] = [
  "export",
  "attach",
  "detach",
  "lock",
  "unlock",
  "map",
  "unmap",
  "pin",
  "unpin",
  "dma-submit",
  "dma-access",
  "signal",
  "dma",
  "revoke",
  "unrevoke",
  "task",
  "close",
  "region",
  "driver",
];

describe("a failed or blocked step changes nothing (DESIGN §3.7)", () => {
  it("for every candidate op of random worlds, a failed or blocked step returns its input world", () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(picksArb, fc.array(fc.nat(), { minLength: 1, maxLength: 8 }), (picks, tries) => {
        const w = walk(m, boot(m), picks);
        const ops = nextOps(m, w);
        for (const t of tries) {
          const op = ops[t % ops.length];
          if (op === undefined) continue;
          const r = step(m, w, op);
          seen.add(`${op.kind}:${r.status}`);
          if (r.status !== "done") {
            expect(r.world).toBe(w);
            expect(worldsEqual(r.world, w)).toBe(true);
          }
        }
      }),
      { numRuns: 150 },
    );
    // Errno paths of several kinds were exercised, not only done steps.
    const failedKinds = [...seen].filter((x) => x.endsWith(":failed"));
    expect(failedKinds.length).toBeGreaterThanOrEqual(4);
  });
});

/** Any value a file could put in a field: ids in and out of range, names the machine has and lacks. */
const idArb = fc.oneof(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 0x3fff_ffff }));
const nameArb = fc.constantFrom(
  "",
  " ",
  "dev0",
  "dev1",
  "dev9",
  "ram0",
  "ref-importer",
  "ref-exporter",
  "x",
);
const u64Arb = fc.oneof(
  fc.bigInt({ min: 0n, max: 0x2000_0000n }),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
);
const dirArb = fc.constantFrom("read", "write");

const plainArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.record({ op: fc.constant("export"), exporter: nameArb, owner: nameArb, args: fc.anything() }),
  fc.record({
    op: fc.constant("attach"),
    buf: idArb,
    importer: nameArb,
    device: fc.option(nameArb, { nil: null }),
    dynamic: fc.boolean(),
  }),
  fc.record({ op: fc.constant("detach"), att: idArb }),
  fc.record({ op: fc.constantFrom("lock", "unlock"), buf: idArb, holder: nameArb }),
  fc.record({
    op: fc.constantFrom("map", "unmap"),
    att: idArb,
    holder: fc.option(nameArb, { nil: null }),
  }),
  fc.record({ op: fc.constantFrom("pin", "unpin"), att: idArb, holder: nameArb }),
  fc.record({
    op: fc.constant("dma-submit"),
    att: idArb,
    addr: u64Arb,
    len: u64Arb,
    dir: dirArb,
    holder: nameArb,
  }),
  fc.record({ op: fc.constantFrom("dma-access", "signal"), job: idArb }),
  fc.record({ op: fc.constant("dma"), device: nameArb, addr: u64Arb, len: u64Arb, dir: dirArb }),
  fc.record({ op: fc.constant("revoke"), buf: idArb, permanent: fc.boolean(), by: nameArb }),
  fc.record({ op: fc.constant("unrevoke"), buf: idArb, by: nameArb }),
  fc.record({ op: fc.constant("task"), task: idArb }),
  fc.record({ op: fc.constant("close"), buf: idArb }),
  fc.record({
    op: fc.constant("region"),
    region: nameArb,
    status: fc.constantFrom("live", "inaccessible"),
    by: nameArb,
  }),
  fc.record({ op: nameArb, driver: fc.option(nameArb, { nil: undefined }), x: fc.anything() }),
);

describe("no op throws on an input its schema accepts", () => {
  it("every op its schema accepts returns done, an errno or blocked on random worlds", () => {
    fc.assert(
      fc.property(
        picksArb,
        fc.array(plainArb, { minLength: 1, maxLength: 10 }),
        (picks, plains) => {
          const w = walk(m, boot(m), picks);
          for (const plain of plains) {
            const parsed = parseOp(m, plain);
            if (!parsed.success) continue;
            const r = step(m, w, parsed.data);
            expect(["done", "failed", "blocked"]).toContain(r.status);
            if (r.status !== "done") expect(r.world).toBe(w);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("an attach naming no possible device (an empty or blank name) is EINVAL, not a crash", () => {
    const w = walk(m, boot(m), [0]);
    for (const device of ["", " "]) {
      const r = step(m, w, {
        kind: "attach",
        buf: 1,
        importer: "ref-importer",
        device,
        dynamic: true,
      });
      expect(r.status === "failed" ? r.error.errno : r.status).toBe("EINVAL");
    }
  });
});

describe("the plain-data form of an op", () => {
  it("every candidate op reads back from its plain form unchanged", () => {
    const kinds = new Set<string>();
    const readsBack = (w: World): void => {
      for (const op of nextOps(m, w)) {
        kinds.add(op.kind);
        const back = parseOp(m, plainOp(op));
        expect(back.success && back.data).toEqual(op);
      }
    };
    fc.assert(
      fc.property(picksArb, (picks) => {
        readsBack(walk(m, boot(m), picks));
      }),
      { numRuns: 60 },
    );
    // A world that offers what a short random walk may miss (a mapped
    // attachment under its lock: DMA submits and device accesses; a job in
    // flight: its access and its signal), so the check below does not hang
    // on the walks' luck.
    const holder = importerHolder("ref-importer", 1);
    let w = boot(m);
    for (const op of [
      { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000 } },
      { kind: "attach", buf: 1, importer: "ref-importer", device: "dev0", dynamic: true },
      { kind: "lock", buf: 1, holder },
      { kind: "map", att: 1, holder },
      { kind: "dma-submit", att: 1, addr: 0x1000_0000n, len: 0x1000n, dir: "write", holder },
    ] satisfies Op[]) {
      const r = step(m, w, op);
      if (r.status !== "done") throw new Error(`${op.kind} did not run`);
      w = r.world;
    }
    readsBack(w);
    // Tasks and driver actions are rare in short walks; the other kinds all appear.
    const rare = new Set<OpKind>(["driver", "task"]);
    expect(ALL_KINDS.filter((k) => !rare.has(k) && !kinds.has(k))).toEqual([]);
  });

  it("an unknown op, a missing field or an extra key is refused with the field named", () => {
    const unknown = parseOp(m, { op: "frobnicate", buf: 1 });
    expect(unknown.success).toBe(false);
    const missing = parseOp(m, { op: "close" });
    expect(missing.success ? [] : missing.error.issues.map((i) => i.path.join("."))).toContain(
      "buf",
    );
    const extra = parseOp(m, { op: "close", buf: 1, bfu: 2 });
    expect(extra.success).toBe(false);
  });
});

/** Steps ops in order and settles; undefined when one of them does not run. */
function runAll(machine: Machine, w: World, ops: readonly Op[]): World | undefined {
  let x = w;
  for (const op of ops) {
    const r = step(machine, x, op);
    if (r.status !== "done") return undefined;
    x = settle(machine, r.world).world;
  }
  return x;
}

describe("worlds are canonical: an op followed by its inverse returns to an equal world (DESIGN §2a)", () => {
  it("attach then detach, map then unmap (under resv), and revoke then un-revoke with nothing mapped, each return to an equal world", () => {
    let checked = 0;
    fc.assert(
      fc.property(picksArb, fc.nat(), (picks, pick) => {
        const w = settle(m, walk(m, boot(m), picks)).world;
        const live = [...w.bufs.entries()].filter(([, b]) => !b.released && b.revoked === "usable");
        const chosen = live[pick % Math.max(live.length, 1)];
        if (chosen === undefined || chosen[1].resvHolder !== null || w.tasks.size > 0) return;
        const [buf, b] = chosen;
        const device = ["dev0", "dev1", "dev2"][pick % 3] ?? "dev0";
        const attached = step(m, w, {
          kind: "attach",
          buf,
          importer: "ref-importer",
          device,
          dynamic: true,
        });
        if (attached.status === "done" && attached.created !== undefined) {
          const att = attached.created;
          const back = runAll(m, attached.world, [{ kind: "detach", att }]);
          expect(back !== undefined && worldsEqual(back, w)).toBe(true);
          const holder = importerHolder("ref-importer", att);
          const mapped = runAll(m, attached.world, [
            { kind: "lock", buf, holder },
            { kind: "map", att, holder },
            { kind: "unlock", buf, holder },
          ]);
          if (mapped !== undefined) {
            const unmapped = runAll(m, mapped, [
              { kind: "lock", buf, holder },
              { kind: "unmap", att, holder },
              { kind: "unlock", buf, holder },
            ]);
            expect(unmapped !== undefined && worldsEqual(unmapped, attached.world)).toBe(true);
          }
          checked++;
        }
        // With nothing mapped and no DMA in flight, the revoke completes at once.
        const nothingMapped = b.attachments.every((a) => w.atts.get(a)?.mapping === null);
        const idle = [...w.jobs.values()].every((j) => j.buf !== buf);
        if (nothingMapped && idle) {
          const cycled = runAll(m, w, [
            { kind: "revoke", buf, permanent: false, by: "reset" },
            { kind: "unrevoke", buf, by: "reset" },
          ]);
          expect(cycled !== undefined && worldsEqual(cycled, w)).toBe(true);
        }
      }),
      { numRuns: 150 },
    );
    expect(checked).toBeGreaterThan(0);
  });
});
