/**
 * Driver ops (DESIGN §2a): a driver registers each entry point with a zod
 * schema and a typed handler; `step` validates the fields before the
 * handler runs; the plain form `{ op: NAME, driver?, ...fields }` names a
 * driver only where the name is ambiguous.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import * as z from "zod";
import {
  CORE_OP_KINDS,
  boot,
  defineDriverOp,
  defineMachine,
  done,
  driverOpCall,
  linux71,
  parseOp,
  plainOp,
  referenceImporter,
  referenceTopology,
  step,
  u64Schema,
  worldsEqual,
} from "@dmabuf-ref/core";
import type { DriverOp, ImporterDriver, Machine } from "@dmabuf-ref/core";

/** An op that counts its runs in a closure, so the test sees whether the handler ran. */
function countingOp(name: string, runs: { n: number }) {
  return defineDriverOp({
    name,
    models: "a test entry point",
    schema: z.strictObject({ device: z.string().min(1), n: u64Schema.default(1n) }),
    run: (_m, w, args) => {
      runs.n++;
      return done(w, [{ kind: "note", actor: args.device, text: `n=${args.n}` }]);
    },
  });
}

function importerWith(name: string, ops: readonly DriverOp[]): ImporterDriver {
  return { ...referenceImporter({ name }), ops };
}

function machineWith(...importers: ImporterDriver[]): Machine {
  return defineMachine({ profile: linux71, topology: referenceTopology, exporters: [], importers });
}

describe("a driver op's fields are checked before its handler runs", () => {
  it("a malformed driver op fails with EINVAL naming the field, the world unchanged, the handler not run", () => {
    const runs = { n: 0 };
    const m = machineWith(importerWith("a", [countingOp("poke", runs)]));
    const w = boot(m);
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.anything()), (fields) => {
        const before = runs.n;
        const r = step(m, w, { kind: "driver", driver: "a", action: { ...fields, op: "poke" } });
        if (r.status === "failed") {
          expect(r.error.errno).toBe("EINVAL");
          expect(r.world).toBe(w);
          expect(runs.n).toBe(before);
        } else {
          expect(r.status).toBe("done");
          expect(runs.n).toBe(before + 1);
        }
      }),
      { numRuns: 200 },
    );
    const bad = step(m, w, { kind: "driver", driver: "a", action: { op: "poke", device: 7 } });
    expect(bad.status === "failed" && bad.error.message).toContain("device");
  });

  it("an op the driver does not register, or a driver the machine lacks, is EINVAL", () => {
    const m = machineWith(importerWith("a", [countingOp("poke", { n: 0 })]));
    const w = boot(m);
    for (const op of [
      { kind: "driver", driver: "a", action: { op: "prod", device: "d" } },
      { kind: "driver", driver: "a", action: "poke" },
      { kind: "driver", driver: "zz", action: { op: "poke", device: "d" } },
    ] as const) {
      const r = step(m, w, op);
      expect(r.status === "failed" ? r.error.errno : r.status).toBe("EINVAL");
      expect(worldsEqual(r.world, w)).toBe(true);
    }
  });

  it("a handler gets its schema's output: defaults filled, types converted", () => {
    const m = machineWith(importerWith("a", [countingOp("poke", { n: 0 })]));
    const r = step(m, boot(m), driverOpCall("a", countingOp("poke", { n: 0 }), { device: "d" }));
    expect(r.status === "done" && r.events).toEqual([{ kind: "note", actor: "d", text: "n=1" }]);
  });
});

describe("a machine's op names", () => {
  it("a driver op may not take a core op's name", () => {
    for (const name of CORE_OP_KINDS) {
      expect(() => machineWith(importerWith("a", [countingOp(name, { n: 0 })]))).toThrow(/core op/);
    }
  });

  it("a driver may not register one name twice", () => {
    const op = countingOp("poke", { n: 0 });
    expect(() => machineWith(importerWith("a", [op, op]))).toThrow(/twice/);
  });

  it("two drivers may register one name; the plain form then names the driver", () => {
    const m = machineWith(
      importerWith("a", [countingOp("poke", { n: 0 })]),
      importerWith("b", [countingOp("poke", { n: 0 })]),
    );
    const ambiguous = parseOp(m, { op: "poke", device: "d" });
    expect(ambiguous.success ? "parsed" : ambiguous.error.issues[0]?.message).toMatch(
      /registered by a, b: name the driver/,
    );
    const wrong = parseOp(m, { op: "poke", driver: "c", device: "d" });
    expect(wrong.success).toBe(false);
    const named = parseOp(m, { op: "poke", driver: "b", device: "d" });
    expect(named.success && named.data).toEqual({
      kind: "driver",
      driver: "b",
      action: { op: "poke", device: "d", n: 1n },
    });
  });

  it("a name only one driver registers needs no driver, and reads back from its plain form", () => {
    const m = machineWith(importerWith("a", [countingOp("poke", { n: 0 })]));
    const r = parseOp(m, { op: "poke", device: "d", n: "0x10" });
    expect(r.success && r.data).toEqual({
      kind: "driver",
      driver: "a",
      action: { op: "poke", device: "d", n: 16n },
    });
    if (!r.success) return;
    expect(plainOp(r.data)).toEqual({ op: "poke", driver: "a", device: "d", n: 16n });
    const back = parseOp(m, plainOp(r.data));
    expect(back.success && back.data).toEqual(r.data);
  });

  it("an unknown op is refused with the names the machine has", () => {
    const m = machineWith(importerWith("a", [countingOp("poke", { n: 0 })]));
    const r = parseOp(m, { op: "prod", device: "d" });
    expect(r.success ? "parsed" : r.error.issues[0]?.message).toMatch(/unknown op prod.*poke/);
  });

  it("a driver op's fields are checked when it is read, with the field named", () => {
    const m = machineWith(importerWith("a", [countingOp("poke", { n: 0 })]));
    const extra = parseOp(m, { op: "poke", device: "d", dveice: "e" });
    expect(extra.success).toBe(false);
    const missing = parseOp(m, { op: "poke" });
    expect(missing.success ? [] : missing.error.issues.map((i) => i.path.join("."))).toContain(
      "device",
    );
  });
});
