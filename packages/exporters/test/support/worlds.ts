/**
 * Assertions on canonical worlds shared by the driver slice tests: two
 * worlds a driver can tell apart must differ in equality and hash; two it
 * cannot must be equal and hash alike.
 */
import { expect } from "vitest";
import { hashWorld, worldsEqual } from "@dmabuf-ref/core";
import type { World } from "@dmabuf-ref/core";

/** Two worlds are different: unequal, and (but for a 2^-32 collision) hashed apart. */
export function expectDiffer(a: World, b: World, what: string): void {
  expect(worldsEqual(a, b), what).toBe(false);
  expect(hashWorld(a), what).not.toBe(hashWorld(b));
}

/** Two worlds are the same: equal, and hashed alike. */
export function expectSame(a: World, b: World, what: string): void {
  expect(worldsEqual(a, b), what).toBe(true);
  expect(hashWorld(a), what).toBe(hashWorld(b));
}
