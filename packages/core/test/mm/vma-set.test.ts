/**
 * The VMA set against a brute-force page map: any sequence of MAP_FIXED
 * mmaps (memfd, BAR) and munmaps over a small window leaves every page
 * resolving as the page map says, and the VMA list canonical (sorted,
 * disjoint, adjacent compatible VMAs merged).
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  MEMFD_FD_BASE,
  MM_PAGE_SIZE,
  anonBase,
  memfdBase,
  userPages,
  vfioPciIndexToOffset,
  vmasOf,
} from "@dmabuf-ref/core";
import type { Vma, World } from "@dmabuf-ref/core";
import { fresh, sys } from "./setup.js";

/** The window the sequences work in: pages 1..24 above this base. */
const BASE = 0x7f00_0000_0000n;
const PAGES = 24;

type Page =
  | { kind: "anon" }
  | { kind: "none" }
  | { kind: "device" }
  | { kind: "memfd"; memfd: number; filePage: number };

type Call =
  | { op: "map-memfd"; memfd: number; at: number; pages: number; filePage: number }
  | { op: "map-bar"; at: number; pages: number }
  | { op: "munmap"; at: number; pages: number };

const span = fc
  .tuple(fc.integer({ min: 0, max: PAGES - 1 }), fc.integer({ min: 1, max: 8 }))
  .map(([at, pages]) => ({ at, pages: Math.min(pages, PAGES - at) }));

const call: fc.Arbitrary<Call> = fc.oneof(
  fc
    .tuple(span, fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 8 }))
    .map(([s, memfd, filePage]) => ({ op: "map-memfd" as const, memfd, filePage, ...s })),
  span.map((s) => ({ op: "map-bar" as const, ...s })),
  span.map((s) => ({ op: "munmap" as const, ...s })),
);

const va = (page: number): bigint => BASE + BigInt(page) * MM_PAGE_SIZE;

function canonical(vmas: readonly Vma[]): void {
  vmas.forEach((v, i) => {
    expect(v.start < v.end).toBe(true);
    const next = vmas[i + 1];
    if (next === undefined) return;
    expect(v.end <= next.start).toBe(true);
    if (v.end !== next.start || v.read !== next.read || v.write !== next.write) return;
    const a = v.backing;
    const b = next.backing;
    const len = v.end - v.start;
    // Adjacent VMAs of one object at contiguous offsets would have been merged.
    const mergeable =
      (a.kind === "none" && b.kind === "none") ||
      (a.kind === "memfd" &&
        b.kind === "memfd" &&
        a.memfd === b.memfd &&
        b.offset === a.offset + len) ||
      (a.kind === "device" && b.kind === "device" && b.offset === a.offset + len);
    expect(mergeable).toBe(false);
  });
}

describe("VMA set", () => {
  it("mmap/munmap sequences resolve every page as a brute-force page map does, canonically", () => {
    fc.assert(
      fc.property(fc.array(call, { maxLength: 14 }), (calls) => {
        const { m, w: booted } = fresh();
        let w: World = booted;
        const fds: number[] = [];
        for (let i = 0; i < 2; i++) {
          const r = sys(m, w, { op: "memfd_create", size: 16n * MM_PAGE_SIZE });
          w = r.world;
          fds.push(Number(r.ret));
        }
        const pages: Page[] = Array.from({ length: PAGES }, () => ({ kind: "anon" }));
        for (const c of calls) {
          switch (c.op) {
            case "map-memfd": {
              const fd = fds[c.memfd] ?? 0;
              w = sys(m, w, {
                op: "mmap",
                fd,
                offset: BigInt(c.filePage) * MM_PAGE_SIZE,
                length: BigInt(c.pages) * MM_PAGE_SIZE,
                addr: va(c.at),
              }).world;
              for (let p = 0; p < c.pages; p++)
                pages[c.at + p] = {
                  kind: "memfd",
                  memfd: fd - MEMFD_FD_BASE,
                  filePage: c.filePage + p,
                };
              break;
            }
            case "map-bar":
              w = sys(m, w, {
                op: "mmap",
                fd: "gpu0",
                offset: vfioPciIndexToOffset(0) + BigInt(c.at) * MM_PAGE_SIZE,
                length: BigInt(c.pages) * MM_PAGE_SIZE,
                addr: va(c.at),
              }).world;
              for (let p = 0; p < c.pages; p++) pages[c.at + p] = { kind: "device" };
              break;
            case "munmap":
              w = sys(m, w, {
                op: "munmap",
                addr: va(c.at),
                length: BigInt(c.pages) * MM_PAGE_SIZE,
              }).world;
              for (let p = 0; p < c.pages; p++) pages[c.at + p] = { kind: "none" };
              break;
          }
        }
        canonical(vmasOf(w, "vmm"));
        const slot = [...w.processes.keys()][0] ?? 1;
        pages.forEach((page, i) => {
          const r = userPages(m, w, "vmm", va(i), MM_PAGE_SIZE);
          switch (page.kind) {
            case "anon":
              expect(r.ok && r.value[0]?.phys).toBe(anonBase(m.topology, slot) + va(i));
              break;
            case "none":
            case "device":
              expect(r.ok ? "ok" : r.error.errno).toBe("EFAULT");
              break;
            case "memfd": {
              // 16-page memfds: pages mapped past the end are unbacked.
              const expected =
                page.filePage < 16
                  ? memfdBase(m.topology, page.memfd) + BigInt(page.filePage) * MM_PAGE_SIZE
                  : "EFAULT";
              expect(r.ok ? r.value[0]?.phys : r.error.errno).toBe(expected);
              break;
            }
          }
        });
      }),
      { numRuns: 300 },
    );
  });
});
