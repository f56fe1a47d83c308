/**
 * The reference exporter as iommufd's selftest mock (kernel-model §3.6):
 * under CONFIG_IOMMUFD_TEST it has the private phys hook; where the profile
 * has PAL it is a PAL exporter, as the Feb 2026 RFC makes it (§4.3).
 */
import { describe, expect, it } from "vitest";
import {
  boot,
  exporterOf,
  linux71,
  mustAtt,
  mustBuf,
  offersOf,
  pal,
  payloadAs,
  proposalConverters,
  referenceExporter,
  referenceMachine,
  rfcMappingTypesV1,
  runScript,
  vfioIommufdMapSymbol,
} from "@dmabuf-ref/core";
import type { Machine, Profile, World } from "@dmabuf-ref/core";

function mock(profile: Profile): { m: Machine; world: World; buf: number } {
  const m = referenceMachine({
    profile,
    exporters: [referenceExporter({ name: "mock", region: "ram0", selftestHook: true })],
  });
  const run = runScript(m, boot(m), [
    { kind: "export", exporter: "mock", owner: "mock0", args: { size: 0x4000n } },
  ]);
  const buf = run.results[0]?.created;
  if (buf === undefined) throw new Error("export failed");
  return { m, world: run.world, buf };
}

function offerIds(m: Machine, w: World, buf: number): string[] {
  return offersOf(m, w, buf).map((o) => o.type.id);
}

describe("the selftest mock (kernel-model §3.6, §4.3)", () => {
  it("under linux-7.1 the mock offers [sgt] and answers the private phys hook", () => {
    const { m, world, buf } = mock(linux71);
    expect(offerIds(m, world, buf)).toEqual(["sgt"]);
    const symbols = exporterOf(m, mustBuf(world, buf)).symbols ?? [];
    expect(symbols.map((x) => x.name)).toEqual([vfioIommufdMapSymbol.name]);
  });

  it.each([[rfcMappingTypesV1], [proposalConverters]])(
    "under %s the mock is a PAL exporter: it offers [pal, sgt]",
    (profile) => {
      const { m, world, buf } = mock(profile);
      expect(offerIds(m, world, buf)).toEqual(["pal", "sgt"]);
    },
  );

  it("map_phys of the mock's PAL returns its one range and grants nothing", () => {
    const { m, world, buf } = mock(rfcMappingTypesV1);
    const run = runScript(m, world, [
      { kind: "attach", buf, importer: "ref-importer", device: "dev0", dynamic: true },
    ]);
    const att = run.results[0]?.created;
    if (att === undefined) throw new Error("attach failed");
    // The reference importer accepts [sgt]: a PAL exporter still reaches it directly.
    expect(mustAtt(run.world, att).mapType).toBe("sgt");
    const a = mustAtt(run.world, att);
    const exp = exporterOf(m, mustBuf(run.world, buf));
    const mapped = exp.map(
      m,
      { ...run.world, atts: run.world.atts.set(att, { ...a, exporterType: pal.id }) },
      att,
    );
    expect(mapped.ok).toBe(true);
    if (mapped.ok) {
      expect(payloadAs(pal, mapped.value.mapping.payload).phys).toHaveLength(1);
      expect(mapped.value.mapping.grants).toEqual([]);
    }
  });

  it("a plain reference exporter (no selftest hook) offers [sgt] under every profile", () => {
    for (const profile of [linux71, rfcMappingTypesV1, proposalConverters]) {
      const m = referenceMachine({ profile });
      const run = runScript(m, boot(m), [
        { kind: "export", exporter: "ref-exporter", owner: "exp0", args: { size: 0x4000n } },
      ]);
      const buf = run.results[0]?.created ?? -1;
      expect(offerIds(m, run.world, buf)).toEqual(["sgt"]);
    }
  });
});
