/*
 * The UALink path end to end, exporter and importer of the example
 * together (the contract suites' partners speak SGT only, so the suites
 * drive each driver's SGT side): negotiation per port, fabric addresses
 * judged by core's oracle, the revoke racing the NIC's jobs in every
 * interleaving, and the suites catching a wrong variant of each driver.
 */
import { describe, expect, it } from "vitest";
import {
  boot,
  defineMachine,
  importerHolder,
  isPayloadOf,
  payloadAs,
  sgt,
  worldsEqual,
} from "@dmabuf-ref/core";
import type { ExporterDriver, Machine, Op, TraceEvent, World } from "@dmabuf-ref/core";
import {
  ContractSpace,
  Session,
  attachmentsOf,
  checkExporter,
  checkImporter,
  failureText,
  search,
} from "@dmabuf-ref/contracts";
import type { CaseResult } from "@dmabuf-ref/contracts";
import {
  ACCELERATOR,
  FABRIC_BASE,
  FAR_NIC,
  NIC,
  UALINK_EXPORTER,
  UALINK_IMPORTER,
  ualink,
  ualinkExporter,
  ualinkImporter,
  ualinkRfc,
  ualinkTopology,
} from "../src/index.js";
import { exporterUnderTest, importerOp, importerUnderTest } from "./harnesses.js";

const m: Machine = defineMachine({
  profile: ualinkRfc,
  topology: ualinkTopology,
  exporters: [ualinkExporter({}, ualinkRfc)],
  importers: [ualinkImporter()],
});

/** A session in which acc0 exported one HBM buffer of two pages. */
function exported(): { s: Session; buf: number } {
  const s = new Session(m, boot(m));
  const r = s.call("user", {
    kind: "export",
    exporter: UALINK_EXPORTER,
    owner: ACCELERATOR,
    args: { size: 0x2000n },
  });
  if (r.status !== "done" || r.created === undefined) throw new Error("export failed");
  return { s, buf: r.created };
}

/** Attaches `port` dynamically and maps under resv, as the NIC's driver does; the attachment. */
function importFor(s: Session, buf: number, port: string): number {
  const r = s.call("nic", {
    kind: "attach",
    buf,
    importer: UALINK_IMPORTER,
    device: port,
    dynamic: true,
  });
  if (r.status !== "done" || r.created === undefined) throw new Error(`attach: ${r.status}`);
  const holder = importerHolder(UALINK_IMPORTER, r.created);
  for (const op of [
    { kind: "lock", buf, holder },
    { kind: "map", att: r.created, holder },
    { kind: "unlock", buf, holder },
  ] satisfies Op[])
    expect(s.call("nic", op).status).toBe("done");
  return r.created;
}

/** The dma events of the last step of a session. */
const lastDma = (s: Session): TraceEvent | undefined =>
  s.steps.at(-1)?.events.find((e) => e.kind === "dma");

describe("negotiation per port", () => {
  it("a port on the exporter's fabric maps the buffer as fabric addresses in the HBM's fabric window", () => {
    const { s, buf } = exported();
    const att = importFor(s, buf, NIC);
    const a = s.world.atts.get(att);
    expect(a?.mapType).toBe("ualink");
    const payload = payloadAs(ualink, a?.mapping?.payload);
    expect(payload.ranges).toEqual([{ fabricAddr: FABRIC_BASE, length: 0x2000n }]);
    // No IOVA: the fabric address is not translated by any IOMMU of the host.
    expect(a?.mapping?.iova).toEqual([]);
  });

  it("a port on another fabric skips ualink (EOPNOTSUPP) and maps the SGT over PCIe", () => {
    const { s, buf } = exported();
    const att = importFor(s, buf, FAR_NIC);
    const a = s.world.atts.get(att);
    expect(a?.mapType).toBe("sgt");
    expect(isPayloadOf(sgt, a?.mapping?.payload)).toBe(true);
  });

  it("a port whose link is down aborts the attach with ENODEV and changes nothing", () => {
    const { s, buf } = exported();
    expect(s.call("nic", importerOp({ op: "link", port: NIC, up: false })).status).toBe("done");
    const before = s.world;
    const r = s.call("nic", {
      kind: "attach",
      buf,
      importer: UALINK_IMPORTER,
      device: NIC,
      dynamic: true,
    });
    expect(r.status === "failed" ? r.error.errno : r.status).toBe("ENODEV");
    expect(worldsEqual(s.world, before)).toBe(true);
    expect(s.call("nic", importerOp({ op: "link", port: NIC, up: true })).status).toBe("done");
    const att = importFor(s, buf, NIC);
    expect(s.world.atts.get(att)?.mapType).toBe("ualink");
  });
});

describe("fabric addresses, judged by core's oracle", () => {
  it("the NIC's fenced job reaches the buffer's HBM through its fabric address", () => {
    const { s, buf } = exported();
    const att = importFor(s, buf, NIC);
    const job = s.call(
      "nic",
      importerOp({ op: "submit", att, offset: 0x1000n, len: 8n, dir: "write" }),
    );
    if (job.status !== "done" || job.created === undefined) throw new Error("submit failed");
    s.call("device", { kind: "dma-access", job: job.created });
    expect(lastDma(s)).toMatchObject({
      addr: FABRIC_BASE + 0x1000n,
      outcome: "ok",
      landed: { region: `acc0.hbm.buf${buf}`, offset: 0x1000n },
    });
    expect(s.violations()).toEqual([]);
  });

  it("a fabric address reached after the NIC let the buffer go is a violation: no IOMMU stops it", () => {
    const { s, buf } = exported();
    const att = importFor(s, buf, NIC);
    expect(s.call("nic", importerOp({ op: "release", att })).status).toBe("done");
    s.call("device", { kind: "dma", device: NIC, addr: FABRIC_BASE, len: 8n, dir: "read" });
    expect(lastDma(s)).toMatchObject({ outcome: "violation" });
    expect(s.violations()[0]).toContain("no access without a live mapping");
  });

  it("a port on another pod cannot use the fabric address at all: it goes to its IOMMU and faults", () => {
    const { s, buf } = exported();
    importFor(s, buf, NIC);
    s.call("device", { kind: "dma", device: FAR_NIC, addr: FABRIC_BASE, len: 8n, dir: "read" });
    expect(lastDma(s)).toMatchObject({ outcome: "fault" });
    expect(s.violations()).toEqual([]);
  });
});

describe("revoke over the fabric, in every interleaving", () => {
  it("a revoke racing two NIC jobs keeps every rule, waits for the NIC's unmap and completes", () => {
    const { s, buf } = exported();
    const att = importFor(s, buf, NIC);
    const job = (dir: "read" | "write") => ({
      name: `job-${dir}`,
      calls: [
        importerOp({ op: "submit", att, len: 8n, dir }),
        (_w: World, created: readonly (number | undefined)[]): Op => ({
          kind: "dma-access",
          job: created[0] ?? -1,
        }),
        (_w: World, created: readonly (number | undefined)[]): Op => ({
          kind: "signal",
          job: created[0] ?? -1,
        }),
      ],
    });
    const threads = [
      { name: "acc", calls: [{ kind: "revoke", buf, permanent: true, by: "close" } satisfies Op] },
      job("write"),
      job("read"),
    ];
    const space = new ContractSpace(m, s.world, threads);
    const v = search(
      space,
      {
        always: (st) => {
          const first = st.world.violations.values().next();
          return first.done === true ? undefined : first.value.rule;
        },
        atEnd: (st) => {
          if (st.pcs.some((pc, i) => pc < (threads[i]?.calls.length ?? 0)))
            return "every thread's calls return";
          if (
            attachmentsOf(st.world, buf, UALINK_IMPORTER).some(
              (id) => st.world.atts.get(id)?.mapping !== null,
            )
          )
            return "the NIC unmapped once the revoke returned";
          return st.outcomes[0]?.[0] === "ok" ? undefined : "the revoke returns 0";
        },
      },
      20_000,
    );
    if (v.broken !== undefined)
      throw new Error(failureText("ualink/revoke-races-jobs", v.broken.rule, v.broken.run));
    expect(v.complete).toBe(true);
    expect(v.states).toBeGreaterThan(10);
  });
});

/** The verdict of one case under a profile (default ualink-rfc). */
const verdictOf = (results: CaseResult[], id: string, profile = ualinkRfc.id): string | undefined =>
  results.find((r) => r.id === id && r.profile === profile)?.verdict.status;

describe("the suites catch a wrong variant of each driver", () => {
  it("an importer that never performs the unmap it owes fails importer/revoke-unmaps", () => {
    const lazy = importerUnderTest(() => ({ ...ualinkImporter(), pending: () => [] }));
    const results = checkImporter(lazy, {
      skip: {
        "importer/model-runs-keep-the-rules": "one case is enough here",
        "importer/failed-calls-change-nothing": "one case is enough here",
      },
    });
    expect(verdictOf(results, "importer/revoke-unmaps")).toBe("fail");
  });

  it("an exporter that leaves its IOMMU mapping behind at unmap fails exporter/revoke-races-dma", () => {
    const leaky = exporterUnderTest(
      (profile): ExporterDriver => ({
        ...ualinkExporter({}, profile),
        // Forgets dma_unmap_sgtable(): the importing device's IOVA still
        // translates to the HBM after the unmap took the grant away.
        unmap: (_m, world) => ({ world, events: [] }),
      }),
      "pcie",
    );
    const results = checkExporter(leaky, {
      skip: {
        "exporter/model-runs-keep-the-rules": "one case is enough here",
        "exporter/failed-calls-change-nothing": "one case is enough here",
      },
    });
    expect(verdictOf(results, "exporter/revoke-races-dma")).toBe("fail");
  });
});
