/**
 * Private interconnects between two drivers (`EXPORT_SYMBOL_FOR_MODULES`):
 * core carries a symbol from the exporter that provides it to the module
 * allowed to call it, checks resv and the result's schema, and knows
 * nothing of what the symbol means.
 */
import { describe, expect, it } from "vitest";
import * as z from "zod";
import {
  boot,
  callSymbol,
  defineSymbol,
  ok,
  provideSymbol,
  referenceExporter,
  referenceMachine,
  runScript,
} from "@dmabuf-ref/core";
import type { Machine, World } from "@dmabuf-ref/core";

const answer = defineSymbol({ name: "sym_answer", modules: ["importer-x"], result: z.number() });

function attached(m: Machine): { w: World; att: number } {
  const run = runScript(m, boot(m), [
    { kind: "export", exporter: "sym-exporter", owner: "exp0", args: { size: 0x1000 } },
    { kind: "export", exporter: "ref-exporter", owner: "exp1", args: { size: 0x1000 } },
    { kind: "attach", buf: 1, importer: "ref-importer", device: "dev0", dynamic: true },
    { kind: "attach", buf: 2, importer: "ref-importer", device: "dev0", dynamic: true },
    { kind: "lock", buf: 1, holder: "me" },
    { kind: "lock", buf: 2, holder: "me" },
  ]);
  expect(run.results.every((r) => r.status === "done")).toBe(true);
  return { w: run.world, att: 1 };
}

describe("a driver symbol", () => {
  const provider = {
    ...referenceExporter({ name: "sym-exporter", region: "ram0" }),
    symbols: [provideSymbol(answer, () => ok(42))],
  };
  const m = referenceMachine({ exporters: [provider] });
  const call = { caller: "importer-x", holder: "me", foreign: "not ours" };

  it("reaches the exporter that provides it, and returns its validated result", () => {
    const { w } = attached(m);
    expect(callSymbol(m, w, 1, answer, call)).toEqual({ ok: true, value: 42 });
  });

  it("an exporter that does not provide it answers EOPNOTSUPP with the caller's reason", () => {
    const { w } = attached(m);
    expect(callSymbol(m, w, 2, answer, call)).toMatchObject({
      ok: false,
      error: { errno: "EOPNOTSUPP", message: "not ours" },
    });
  });

  it("a module it is not exported to, a caller without resv, or a result its schema refuses is a model bug", () => {
    const { w } = attached(m);
    expect(() => callSymbol(m, w, 1, answer, { ...call, caller: "other" })).toThrow(/not exported/);
    expect(() => callSymbol(m, w, 1, answer, { ...call, holder: "someone" })).toThrow(/resv/);
    const liar = {
      ...referenceExporter({ name: "sym-exporter", region: "ram0" }),
      symbols: [provideSymbol(defineSymbol({ ...answer, result: z.string() }), () => ok("x"))],
    };
    const bad = referenceMachine({ exporters: [liar] });
    expect(() => callSymbol(bad, attached(bad).w, 1, answer, call)).toThrow(/schema/);
  });
});
