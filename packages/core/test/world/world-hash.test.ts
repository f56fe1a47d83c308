import { describe, expect, test } from "vitest";
import { WORLD_SLICES, boot, hashWorld, hashWorld2, referenceMachine } from "../../src/index.js";
import type { World } from "../../src/index.js";

describe("the world's fingerprint", () => {
  // A slice the fingerprint missed would leave worlds that differ only
  // there with one fingerprint, and the explorer would merge them.
  test("both hash lanes change when any one slice's hash changes", () => {
    const w = boot(referenceMachine());
    for (const s of WORLD_SLICES) {
      const slice = { hash: w[s].hash ^ 1, hash2: w[s].hash2 ^ 1 };
      const changed: World = { ...w, [s]: slice };
      expect(hashWorld(changed), s).not.toBe(hashWorld(w));
      expect(hashWorld2(changed), s).not.toBe(hashWorld2(w));
    }
  });

  test("the world's own fields are exactly WORLD_SLICES", () => {
    const w = boot(referenceMachine());
    expect(Object.keys(w).sort()).toEqual([...WORLD_SLICES].sort());
  });
});
