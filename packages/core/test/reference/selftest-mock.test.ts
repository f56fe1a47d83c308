/**
 * The reference exporter as iommufd's selftest mock (kernel-facts §3.6):
 * under CONFIG_IOMMUFD_TEST it has the private phys hook; where the profile
 * has PAL it is a PAL exporter, as the Feb 2026 RFC makes it (§4.3).
 */
import { describe, expect, it } from "vitest";
import {
  offersOf,
  exporterOf,
  linux71,
  mustAtt,
  mustBuf,
  pal,
  proposalConverters,
  referenceExporter,
  referenceWorld,
  rfcMappingTypesV1,
  runScript,
} from "@dmabuf-ref/core";
import type { Profile, World } from "@dmabuf-ref/core";

function mock(profile: Profile): { world: World; buf: number } {
  const world = referenceWorld({
    profile,
    exporters: [referenceExporter({ name: "mock", region: "ram0", selftestHook: true })],
  });
  const run = runScript(world, [
    { kind: "export", exporter: "mock", owner: "mock0", args: { size: 0x4000n } },
  ]);
  const buf = run.results[0]?.created;
  if (buf === undefined) throw new Error("export failed");
  return { world: run.world, buf };
}

function offerIds(w: World, buf: number): string[] {
  return offersOf(w, buf).map((o) => o.type.id);
}

describe("the selftest mock (kernel-facts §3.6, §4.3)", () => {
  it("under linux-7.1 the mock offers [sgt] and answers the private phys hook", () => {
    const { world, buf } = mock(linux71);
    expect(offerIds(world, buf)).toEqual(["sgt"]);
    expect("privatePhys" in exporterOf(m, mustBuf(world, buf))).toBe(true);
  });

  it.each([[rfcMappingTypesV1], [proposalConverters]])(
    "under %s the mock is a PAL exporter: it offers [pal, sgt]",
    (profile) => {
      const { world, buf } = mock(profile);
      expect(offerIds(world, buf)).toEqual(["pal", "sgt"]);
    },
  );

  it("map_phys of the mock's PAL returns its one range and grants nothing", () => {
    const { world, buf } = mock(rfcMappingTypesV1);
    const run = runScript(world, [
      { kind: "attach", buf, importer: "ref-importer", device: "dev0", dynamic: true },
    ]);
    const att = run.results[0]?.created;
    if (att === undefined) throw new Error("attach failed");
    // The reference importer accepts [sgt]: a PAL exporter still reaches it directly.
    expect(mustAtt(run.world, att).mapType).toBe("sgt");
    const a = mustAtt(run.world, att);
    const exp = exporterOf(m, mustBuf(run.world, buf));
    const mapped = exp.map(
      { ...run.world, atts: run.world.atts.set(att, { ...a, exporterType: pal.id }) },
      att,
    );
    expect(mapped.ok).toBe(true);
    if (mapped.ok) {
      expect(pal.payload.parse(mapped.value.mapping.payload).phys).toHaveLength(1);
      expect(mapped.value.mapping.grants).toEqual([]);
    }
  });

  it("a plain reference exporter (no selftest hook) offers [sgt] under every profile", () => {
    for (const profile of [linux71, rfcMappingTypesV1, proposalConverters]) {
      const world = referenceWorld({ profile });
      const run = runScript(world, [
        { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000n } },
      ]);
      const buf = run.results[0]?.created ?? -1;
      expect(offerIds(run.world, buf)).toEqual(["sgt"]);
    }
  });
});
