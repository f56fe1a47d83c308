/**
 * Random sequences of exports, attachments, maps, DMA and every vfio-pci
 * trigger (kernel-model §2.5, §7.7–7.9), checking after each step the
 * invariants a maintainer relies on.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { findProfile, importerHolder, isPayloadOf, runScript, settle, sgt } from "@dmabuf-ref/core";
import type { Machine, ScriptEntry, World } from "@dmabuf-ref/core";
import {
  vfioDeviceState,
  vfioDmaBufPriv,
  vfioMemoryEnabled,
  vfioOperations,
} from "@dmabuf-ref/exporters";
import type { VfioPciAction } from "@dmabuf-ref/exporters";
import { VFIO, actOnce, dmaBufRequest, featureIoctl, makeWorld } from "./setup.js";

const DEVICES = ["vfio0", "vfio1"] as const;

const actionArb: fc.Arbitrary<VfioPciAction> = fc.oneof(
  fc.constantFrom(...DEVICES).map((device) => ({ op: "flr" as const, device })),
  fc.constantFrom(...DEVICES).map((device) => ({ op: "reset" as const, device, process: "vmm" })),
  fc
    .record({ device: fc.constantFrom(...DEVICES), memory: fc.boolean() })
    .map((x) => ({ op: "config-write-command" as const, ...x })),
  fc
    .record({
      device: fc.constantFrom(...DEVICES),
      state: fc.constantFrom("D0" as const, "D3hot" as const),
    })
    .map((x) => ({ op: "power" as const, ...x })),
  fc
    .record({ device: fc.constantFrom(...DEVICES), enter: fc.boolean() })
    .map((x) => ({ op: "low-power" as const, ...x })),
  fc.constant({ op: "hot-reset" as const, devSet: "set0" }),
  fc.constantFrom(...DEVICES).map((device) => ({ op: "close-device" as const, device })),
  fc.constantFrom(...DEVICES).map((device) => ({ op: "unbind" as const, device })),
);

type Command =
  | { t: "export"; device: string; page: number; pages: number }
  | { t: "attach"; pick: number; device: string }
  | { t: "map" | "unmap" | "dma" | "closefd"; pick: number }
  | { t: "act"; action: VfioPciAction };

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  fc.record({
    t: fc.constant("export" as const),
    device: fc.constantFrom(...DEVICES),
    page: fc.nat(15),
    pages: fc.integer({ min: 1, max: 4 }),
  }),
  fc.record({
    t: fc.constant("attach" as const),
    pick: fc.nat(),
    device: fc.constantFrom("dev0", "dev1"),
  }),
  fc.record({
    t: fc.constantFrom("map" as const, "unmap" as const, "dma" as const, "closefd" as const),
    pick: fc.nat(),
  }),
  fc.record({ t: fc.constant("act" as const), action: actionArb }),
);

function vfioBufs(w: World): number[] {
  return [...w.bufs.entries()]
    .filter(([, b]) => b.exporter === VFIO && !b.released)
    .map(([id]) => id);
}

function pickOf<T>(xs: readonly T[], pick: number): T | undefined {
  return xs.length === 0 ? undefined : xs[pick % xs.length];
}

/** Runs one command; failures of vfio-pci actions must leave the very same world. */
function perform(m: Machine, w: World, c: Command): World {
  const script = (entries: ScriptEntry[]): World => runScript(m, w, entries).world;
  switch (c.t) {
    case "export": {
      const ranges = [{ offset: BigInt(c.page) * 0x1000n, length: BigInt(c.pages) * 0x1000n }];
      const r = featureIoctl(m, w, dmaBufRequest(ranges), c.device);
      if (r.status !== "done") expect(r.world).toBe(w);
      return r.world;
    }
    case "attach": {
      const buf = pickOf(vfioBufs(w), c.pick);
      if (buf === undefined) return w;
      return script([
        { kind: "attach", buf, importer: "ref-importer", device: c.device, dynamic: true },
      ]);
    }
    case "map":
    case "unmap": {
      const want = c.t === "map";
      const atts = [...w.atts.entries()].filter(([, a]) => (a.mapping === null) === want);
      const found = pickOf(atts, c.pick);
      if (found === undefined) return w;
      const [att, a] = found;
      const holder = importerHolder("ref-importer", att);
      return script([
        { kind: "lock", buf: a.buf, holder },
        { kind: c.t, att, holder },
        { kind: "unlock", buf: a.buf, holder },
      ]);
    }
    case "dma": {
      const live = [...w.atts.values()].filter((a) => a.mapping !== null && !a.invalidated);
      const a = pickOf(live, c.pick);
      const payload = a?.mapping?.payload;
      const entry = isPayloadOf(sgt, payload) ? payload.value.entries[0] : undefined;
      if (a?.device == null || entry === undefined) return w;
      return script([
        { kind: "dma", device: a.device, addr: entry.dmaAddress, len: 8n, dir: "write" },
      ]);
    }
    case "closefd": {
      const buf = pickOf(vfioBufs(w), c.pick);
      return buf === undefined ? w : script([{ kind: "close", buf }]);
    }
    case "act": {
      const r = actOnce(m, w, c.action);
      if (r.status !== "done") {
        expect(r.world).toBe(w);
        return w;
      }
      return settle(m, r.world).world;
    }
  }
}

function checkInvariants(m: Machine, w: World): void {
  expect([...w.violations.values()]).toEqual([]);
  expect(w.tasks.size).toBe(0);
  for (const id of vfioBufs(w)) {
    const b = w.bufs.get(id);
    const priv = vfioDmaBufPriv(w, id);
    // vdev becomes NULL only after revoked is set for good.
    if (priv.vdev === null) {
      expect(b?.revoked).toBe("permanent");
      continue;
    }
    const device = priv.vdev;
    if (vfioOperations(m, w, device).some((o) => o.kind !== "unbind")) continue;
    // At rest, a buffer of a device is usable iff the device's memory is enabled.
    const d = vfioDeviceState(m, w, device);
    expect(b?.revoked).toBe(vfioMemoryEnabled(d) ? "usable" : "temporary");
  }
}

describe("random vfio-pci histories (kernel-model §2.5)", () => {
  it("keep vdev == NULL => revoked for good, usable <=> memory enabled at rest, and never trip the oracle", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("linux-7.1", "proposal-converters"),
        fc.constantFrom("disable-then-cleanup" as const, "cleanup-then-disable" as const),
        fc.array(commandArb, { maxLength: 25 }),
        (profileId, closeOrder, commands) => {
          const profile = findProfile(profileId);
          if (profile === undefined) throw new Error(`no profile ${profileId}`);
          const { m, w: w0 } = makeWorld({ profile, closeOrder });
          let w = w0;
          for (const c of commands) {
            w = perform(m, w, c);
            checkInvariants(m, w);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
