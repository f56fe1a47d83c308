import { describe, expect, it } from "vitest";
import * as z from "zod";
import {
  boot,
  defineDriverOp,
  defineSlice,
  readSlice,
  writeSlice,
  done,
  owedUnmaps,
  referenceImporter,
  referenceMachine,
  renderText,
  runScript,
} from "@dmabuf-ref/core";
import type { ImporterDriver } from "@dmabuf-ref/core";
import { mappedWorld } from "./setup.js";

/** Whether the slow device finished its teardown. */
const teardownDone = defineSlice<boolean>(
  "teardown-done",
  { seed: 0x5107, encode: (v, out) => void out.push(v ? 1 : 0) },
  false,
);

/**
 * A revocable importer that owes its unmap like the reference one but only
 * performs it after the test says "go" (a slow device teardown).
 */
const slowImporter: ImporterDriver = {
  ...referenceImporter({ name: "slow-importer" }),
  slices: [teardownDone],
  pending: (m, w) =>
    readSlice(m, w, "slow-importer", teardownDone) ? owedUnmaps(w, "slow-importer") : [],
  ops: [
    defineDriverOp({
      name: "go",
      models: "the device's teardown finishing",
      schema: z.strictObject({}),
      run: (m, w) =>
        done(writeSlice(m, w, "slow-importer", teardownDone, true), [
          { kind: "note", actor: "slow-importer", text: "device teardown finished" },
        ]),
    }),
  ],
};

describe("revoke waits for every unmap (kernel-model §1.3, §2.5)", () => {
  it("the exporter stays blocked in the trace until a slow importer unmaps", () => {
    const m = referenceMachine({ importers: [slowImporter] });
    const s = mappedWorld(m, boot(m), "dev0", "slow-importer");
    const revoking = runScript(m, s.world, [
      { kind: "revoke", buf: s.buf, permanent: false, by: "reset" },
    ]);
    expect(revoking.world.tasks.size).toBe(1);
    expect(revoking.events.at(-1)).toMatchObject({
      kind: "wait",
      what: "unmaps",
      state: "blocked",
      outstanding: 1,
    });
    const whole = runScript(m, s.world, [
      { kind: "revoke", buf: s.buf, permanent: false, by: "reset" },
      { kind: "driver", driver: "slow-importer", action: { op: "go" } },
    ]);
    const kinds = whole.events.map((e) => e.kind);
    expect(kinds.slice(kinds.indexOf("note"))).toEqual([
      "note",
      "resv",
      "unmap",
      "wait",
      "task",
      "resv",
    ]);
    expect(whole.world.tasks.size).toBe(0);
    expect(renderText(whole.events)).toMatchInlineSnapshot(`
      "  1 exp0: reset: revoke (temporary) of buf 1 starts
        2 exp0 -> buf 1: dma_resv_lock (reset)
        3 exp0: buf 1 revoked = temporary
        4 exp0 -> slow-importer: invalidate_mappings(attach 1)
        5 exp0 -> buf 1: reset: wait for fences done
        6 exp0 -> buf 1: dma_resv_unlock (reset)
        7 exp0 -> buf 1: reset blocked: waits for unmaps (1 outstanding)
        8 slow-importer: device teardown finished
        9 slow-importer -> buf 1: dma_resv_lock (attach 1, owed unmap)
       10 slow-importer -> exp0: unmap attach 1
       11 exp0 -> buf 1: reset: wait for unmaps done
       12 exp0: reset: revoke (temporary) of buf 1 complete
       13 slow-importer -> buf 1: dma_resv_unlock (attach 1, owed unmap)
      "
    `);
  });
});
