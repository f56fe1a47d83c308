/**
 * What must hold in every reachable world with iommufd in it (kernel-model
 * §3.4, §3.5, §7.11), checked after random ioctl sequences: over the
 * inspection view ({@link iommufdStateOf}) and over the driver's slices
 * themselves (`ictx->objects`, the pages and the two indexes).
 */
import { expect } from "vitest";
import { access, deviceIndex, readSlice } from "@dmabuf-ref/core";
import type { Machine, World } from "@dmabuf-ref/core";
import { IOMMUFD, iommufdStateOf } from "../../src/index.js";
import {
  IOMMUFD_ATTACHED,
  IOMMUFD_ATTACHMENTS,
  IOMMUFD_OBJECTS,
  IOMMUFD_PAGES,
} from "../../src/iommufd/objects.js";

/** Asserts the slices agree with each other: the indexes, the references, the HWPTs. */
function expectSlicesConsistent(m: Machine, w: World): void {
  const objects = readSlice(m, w, IOMMUFD, IOMMUFD_OBJECTS);
  const pages = readSlice(m, w, IOMMUFD, IOMMUFD_PAGES);
  // The attach-order index lists exactly the device objects, once each.
  const attached = readSlice(m, w, IOMMUFD, IOMMUFD_ATTACHED);
  const deviceIds = [...objects.entries()].filter(([, o]) => o.kind === "device").map(([id]) => id);
  expect([...attached].sort((a, b) => a - b)).toEqual(deviceIds);
  for (const [id, o] of objects.entries()) {
    if (o.kind === "device" && o.attach !== null) {
      // An attached device is attached through a HWPT of its IOAS that is its domain.
      expect(objects.get(o.attach.hwpt)).toMatchObject({
        kind: "hwpt",
        ioas: o.attach.ioas,
        domain: o.attach.domain,
      });
    }
    if (o.kind === "hwpt") {
      // A HWPT is one domain of its IOAS; an automatic one has a device attached through it.
      const io = objects.get(o.ioas);
      expect(io?.kind === "ioas" ? io.domains : []).toContain(o.domain);
      if (o.auto) {
        const users = [...objects.values()].filter(
          (d) => d.kind === "device" && d.attach?.hwpt === id,
        );
        expect(users.length).toBeGreaterThan(0);
      }
    }
    if (o.kind === "ioas") {
      // Every domain of an IOAS is exactly one HWPT object.
      for (const domain of o.domains) {
        const of = [...objects.values()].filter(
          (h) => h.kind === "hwpt" && h.domain === domain && h.ioas === id,
        );
        expect(of).toHaveLength(1);
      }
    }
  }
  // Each pages object's references are exactly the areas that use it, and it has one at least.
  const refs = new Map<number, { ioas: number; iova: bigint }[]>();
  for (const [id, o] of objects.entries()) {
    if (o.kind !== "ioas") continue;
    for (const a of o.areas.values())
      refs.set(a.pages, [...(refs.get(a.pages) ?? []), { ioas: id, iova: a.iova }]);
  }
  for (const [id, p] of pages.entries()) {
    const want = (refs.get(id) ?? []).sort((a, b) =>
      a.ioas !== b.ioas ? a.ioas - b.ioas : a.iova < b.iova ? -1 : a.iova > b.iova ? 1 : 0,
    );
    expect(p.users).toEqual(want);
    expect(p.users.length).toBeGreaterThan(0);
  }
  // The attachment index holds exactly the pages' attachments.
  const index = readSlice(m, w, IOMMUFD, IOMMUFD_ATTACHMENTS);
  const want = new Map<number, number>();
  for (const [id, p] of pages.entries()) {
    if (p.kind !== "dmabuf") continue;
    want.set(p.att, id);
    for (const t of p.tracker) if (t.att !== undefined) want.set(t.att, id);
  }
  expect(new Map(index.entries())).toEqual(want);
}

/** Asserts iommufd's invariants over a world. */
export function expectInvariants(m: Machine, w: World): void {
  expectSlicesConsistent(m, w);
  const s = iommufdStateOf(m, w);
  const pagesById = new Map(s.pages.map((p) => [p.id, p.pages]));
  for (const io of s.ioas) {
    // Areas never overlap (the view lists them by IOVA).
    for (let i = 1; i < io.areas.length; i++) {
      const prev = io.areas[i - 1];
      const cur = io.areas[i];
      if (prev === undefined || cur === undefined) continue;
      expect(prev.iova + prev.length <= cur.iova).toBe(true);
    }
    const devices = s.devices.filter((d) => d.ioas === io.id);
    for (const d of devices) {
      expect(io.domains).toContain(d.domain);
      expect(w.deviceDomains.get(deviceIndex(m, d.device))).toBe(d.domain);
    }
    for (const area of io.areas) {
      const pages = pagesById.get(area.pages);
      if (pages === undefined) throw new Error(`area at ${area.iova} has no pages`);
      const dead = pages.kind === "dmabuf" && pages.revoked;
      for (const domain of io.domains) {
        const dom = w.domains.get(domain);
        if (dom === undefined) throw new Error(`no domain ${domain}`);
        // No domain translates a revoked area; every live one is mapped whole.
        const covered = [...dom.mappings.values()]
          .filter((x) => area.iova <= x.iova && x.iova < area.iova + area.length)
          .reduce((n, x) => n + x.len, 0n);
        expect(covered).toBe(dead ? 0n : area.length);
        if (pages.kind === "dmabuf") {
          expect(pages.tracker).toContainEqual(
            expect.objectContaining({ ioas: io.id, iova: area.iova, domain }),
          );
        }
      }
      if (dead) expect(area.grants).toEqual([]);
      for (const g of area.grants) expect(w.grants.get(g)).toBeDefined();
    }
  }
  for (const { pages } of s.pages) {
    if (pages.kind !== "dmabuf") continue;
    const att = w.atts.get(pages.att);
    expect(att).toMatchObject({ importer: "iommufd", dynamic: true, buf: pages.buf });
    for (const t of pages.tracker) {
      const io = s.ioas.find((i) => i.id === t.ioas);
      expect(io?.domains).toContain(t.domain);
      expect(io?.areas.some((a) => a.iova === t.iova)).toBe(true);
    }
  }
  // Every iommufd attachment belongs to a pages object (its own, or one
  // (area, domain) pair that core maps, kernel-model §4.4).
  for (const [id, a] of w.atts.entries()) {
    if (a.importer !== "iommufd") continue;
    expect(
      s.pages.some(
        (p) =>
          p.pages.kind === "dmabuf" &&
          (p.pages.att === id || p.pages.tracker.some((t) => t.att === id)),
      ),
    ).toBe(true);
  }
}

/**
 * Asserts the oracle's verdict on every attached device's DMA to every area
 * of its IOAS: ok for a live readable area, an IOMMU fault for a dead one,
 * never a violation (DESIGN §3.5).
 */
export function expectDmaVerdicts(m: Machine, w: World): void {
  const s = iommufdStateOf(m, w);
  for (const d of s.devices) {
    const io = s.ioas.find((i) => i.id === d.ioas);
    for (const area of io?.areas ?? []) {
      const pages = s.pages.find((p) => p.id === area.pages)?.pages;
      const dead = pages?.kind === "dmabuf" && pages.revoked;
      const verdict = access(m, w, d.device, area.iova, 1n, "read").outcome;
      expect(verdict).toBe(dead || !area.read ? "fault" : "ok");
    }
  }
}
