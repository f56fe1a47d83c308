/**
 * Userspace visibility (seed 000's question; a PROPOSAL, no kernel uAPI):
 * which dma-buf sources iommufd can import under the active profile, and
 * which stage refuses the others, before trying.
 */
import { describe, expect, it } from "vitest";
import { fc, test } from "@fast-check/vitest";
import {
  EMAIL_WIDTH,
  PROFILES,
  boot,
  linux71,
  mustBuf,
  proposalConverters,
  rfcMappingTypesV1,
  runScript,
  worldsEqual,
} from "@dmabuf-ref/core";
import type { Machine, Profile, World } from "@dmabuf-ref/core";
import { match } from "ts-pattern";
import {
  CAPABILITY_PROPOSAL_BANNER,
  iommufdImportCapabilities,
  iommufdImportCapability,
  renderImportCapabilities,
} from "../../src/index.js";
import type { ImportStage } from "../../src/index.js";
import {
  allocIoas,
  exportForeign,
  exportVfio,
  iommufdStep,
  makeMachine,
  mapFile,
  revoke,
} from "./fixtures.js";

/** A machine (of `profile`) and a world with a VFIO buffer, a two-range one, a revoked one and a foreign one. */
function sources(profile: Profile): { m: Machine; world: World; ioas: number; bufs: number[] } {
  const m = makeMachine(profile);
  const a = allocIoas(m, boot(m));
  const one = exportVfio(m, a.world);
  const two = exportVfio(m, one.world, {
    region: "vfio0.bar0",
    ranges: [
      { offset: 0x10000n, length: 0x1000n },
      { offset: 0x20000n, length: 0x1000n },
    ],
  });
  const dead = exportVfio(m, two.world, {
    region: "vfio0.bar0",
    ranges: [{ offset: 0x30000n, length: 0x1000n }],
  });
  const foreign = exportForeign(m, revoke(m, dead.world, dead.buf));
  return {
    m,
    world: foreign.world,
    ioas: a.ioas,
    bufs: [one.buf, two.buf, dead.buf, foreign.buf],
  };
}

describe("iommufdImportCapability (PROPOSAL)", () => {
  it("says it is a proposal, in its result and in every rendering", () => {
    const { m, ...s } = sources(linux71);
    const caps = iommufdImportCapabilities(m, s.world);
    for (const c of caps) expect(c.proposal).toBe(true);
    const text = renderImportCapabilities(caps);
    expect(text.split("\n")[0]).toBe(CAPABILITY_PROPOSAL_BANNER);
    expect(text).toMatch(/^PROPOSAL, not a kernel uAPI/);
  });

  it("linux-7.1: VFIO importable via the private interconnect; the others refused where the kernel refuses", () => {
    const { m, ...s } = sources(linux71);
    const caps = s.bufs.map((b) => iommufdImportCapability(m, s.world, b));
    expect(caps.map((c) => [c.importable, c.stage, c.errno ?? null, c.type ?? null])).toEqual([
      [true, "ready", null, "vfio-iommufd-private"],
      [false, "private-phys", "EOPNOTSUPP", null],
      [false, "exporter-attach", "ENODEV", null],
      [false, "private-phys", "EOPNOTSUPP", null],
    ]);
    expect(caps[3]?.reason).toMatch(/vfio_pci_dma_buf_iommufd_map.*not a VFIO dma-buf/);
  });

  it("rfc-mapping-types-v1: PAL sources importable (multi-range too); no PAL is EINVAL at negotiation", () => {
    const { m, ...s } = sources(rfcMappingTypesV1);
    const caps = s.bufs.map((b) => iommufdImportCapability(m, s.world, b));
    expect(caps.map((c) => [c.importable, c.stage, c.errno ?? null])).toEqual([
      [true, "ready", null],
      [true, "ready", null],
      [false, "exporter-attach", "ENODEV"],
      [false, "negotiation", "EINVAL"],
    ]);
    expect(caps[3]?.pairs).toEqual([
      expect.objectContaining({
        exporterType: "sgt",
        importerType: "pal",
        outcome: { kind: "no-common-type" },
      }),
    ]);
  });

  it("proposal-converters: negotiation matches through pal->iommu-domain and the buffer is importable", () => {
    const { m, ...s } = sources(proposalConverters);
    const c = iommufdImportCapability(m, s.world, s.bufs[0] ?? -1);
    expect(c).toMatchObject({
      importable: true,
      stage: "ready",
      type: "iommu-domain",
      converter: "pal->iommu-domain",
    });
    expect(
      c.pairs.some((p) => p.converter === "pal->iommu-domain" && p.outcome.kind === "matched"),
    ).toBe(true);
  });

  it("an fd that is not a dma-buf is answered at the fd stage with EBADF", () => {
    const m = makeMachine();
    const c = iommufdImportCapability(m, boot(m), 99);
    expect(c).toMatchObject({ importable: false, stage: "fd", errno: "EBADF" });
  });

  it("the query changes nothing: the world is the identical value afterwards", () => {
    const { m, ...s } = sources(linux71);
    const before = s.world;
    iommufdImportCapabilities(m, s.world);
    expect(s.world).toBe(before);
    expect(worldsEqual(s.world, before)).toBe(true);
  });

  it("a resv held right now does not change the answer (capability, not a would-sleep)", () => {
    const { m, ...s } = sources(linux71);
    const buf = s.bufs[0] ?? -1;
    const held = runScript(m, s.world, [{ kind: "lock", buf, holder: "someone" }]).world;
    expect(mustBuf(held, buf).resvHolder).toBe("someone");
    expect(iommufdImportCapability(m, held, buf).importable).toBe(true);
  });

  it("the rendering never exceeds 72 columns", () => {
    for (const p of PROFILES) {
      const { m, world } = sources(p);
      const text = renderImportCapabilities(iommufdImportCapabilities(m, world));
      for (const line of text.split("\n")) expect(line.length).toBeLessThanOrEqual(EMAIL_WIDTH);
    }
  });
});

describe("ImportStage is a closed union", () => {
  it("a match that forgets a stage does not compile", () => {
    const seen: string[] = [];
    const visit = (stage: ImportStage): void => {
      match(stage)
        .with("fd", "negotiation", "exporter-attach", "pin", "private-phys", (s) => {
          seen.push(s);
        })
        // @ts-expect-error -- "pal-map" is not handled
        .exhaustive();
    };
    visit("fd");
    expect(seen).toEqual(["fd"]);
  });
});

describe("the query agrees with the real path (fast-check)", () => {
  test.prop([fc.constantFrom(...PROFILES), fc.integer({ min: 0, max: 3 })], { numRuns: 40 })(
    "importable iff MAP_FILE of the whole buffer succeeds; otherwise the same errno",
    (profile, i) => {
      const { m, ...s } = sources(profile);
      const buf = s.bufs[i] ?? -1;
      const w = s.world;
      const cap = iommufdImportCapability(m, w, buf);
      const r = mapFile(m, w, { ioas: s.ioas, fd: buf, length: mustBuf(w, buf).size });
      expect(r.status === "done").toBe(cap.importable);
      if (r.status === "failed") expect(r.error.errno).toBe(cap.errno);
    },
  );
});

describe("the import-capability op (PROPOSAL): the query as a call a scenario can make", () => {
  test.prop([fc.constantFrom(...PROFILES), fc.integer({ min: 0, max: 3 })], { numRuns: 40 })(
    "its outcome is ok iff MAP_FILE of the whole buffer succeeds, otherwise MAP_FILE's errno; the world is the same value",
    (profile, i) => {
      const { m, ...s } = sources(profile);
      const buf = s.bufs[i] ?? -1;
      const w = s.world;
      const q = iommufdStep(m, w, { op: "import-capability", buf });
      expect(q.status).not.toBe("blocked");
      expect(q.world).toBe(w);
      const r = mapFile(m, w, { ioas: s.ioas, fd: buf, length: mustBuf(w, buf).size });
      expect(q.status).toBe(r.status);
      if (q.status === "done") expect(q.returned?.ret).toBe(0);
      if (q.status === "failed" && r.status === "failed") expect(q.error.errno).toBe(r.error.errno);
    },
  );

  it("its answer is a note that says it is a proposal and names the refusing stage", () => {
    const { m, ...s } = sources(linux71);
    const q = iommufdStep(m, s.world, { op: "import-capability", buf: s.bufs[3] ?? -1 });
    expect(q).toMatchObject({ status: "failed", error: { errno: "EOPNOTSUPP" } });
    const notes = (q.status === "failed" ? (q.events ?? []) : []).flatMap((e) =>
      e.kind === "note" ? [e.text] : [],
    );
    expect(notes).toEqual([
      expect.stringMatching(/^PROPOSAL import-capability .*NOT importable at private-phys/),
    ]);
  });

  it("a resv held right now does not make it sleep, and an fd that is no dma-buf is EBADF", () => {
    const { m, ...s } = sources(linux71);
    const buf = s.bufs[0] ?? -1;
    const held = runScript(m, s.world, [{ kind: "lock", buf, holder: "someone" }]).world;
    expect(iommufdStep(m, held, { op: "import-capability", buf })).toMatchObject({
      status: "done",
      returned: { ret: 0 },
    });
    expect(iommufdStep(m, held, { op: "import-capability", buf: 99 })).toMatchObject({
      status: "failed",
      error: { errno: "EBADF" },
    });
  });
});
