/*
 * The example's drivers in the harnesses of @dmabuf-ref/contracts: the
 * machine each runs on and the few entry points a suite cannot know (how
 * a buffer is exported, how the NIC imports, accesses and lets go).
 * Shared by the contract test and by the test that proves the suites
 * catch a wrong variant of each driver.
 */
import { accept, defineMachine, importerHolder, linux71, sgt } from "@dmabuf-ref/core";
import type { ExporterDriver, ImporterDriver, Op, Profile, World } from "@dmabuf-ref/core";
import {
  CONTRACT_EXPORTER,
  CONTRACT_IMPORTER,
  attachmentsOf,
  dynamicImporter,
  mustStep,
  mustSteps,
} from "@dmabuf-ref/contracts";
import type { ExporterUnderTest, ImporterUnderTest } from "@dmabuf-ref/contracts";
import {
  ACCELERATOR,
  FABRIC,
  NIC,
  UALINK_EXPORTER,
  UALINK_IMPORTER,
  ualink,
  ualinkExporter,
  ualinkImporter,
  ualinkJobAddress,
  ualinkRfc,
  ualinkTopology,
} from "../src/index.js";

/** Mainline v7.1 (the legacy SGT path) and ualink-rfc (the negotiation with the type). */
export const PROFILES: readonly Profile[] = [linux71, ualinkRfc];

/** Where the suite's importer attaches from: the UALink port, or a PCIe function. */
export type ImportingSide = "fabric" | "pcie";

/**
 * The UALink exporter under test, on the example's topology.
 *
 * @param make - builds the exporter for a profile (default: the correct one).
 * @param side - where the suite's importer attaches from: the UALink port
 *   `unic0` (default; a `ualink` mapping under ualink-rfc), or the PCIe
 *   function `pcie0` behind the host bridge (the exporter's SGT path, P2P
 *   through pcie0's IOMMU).
 * @returns the harness.
 */
export function exporterUnderTest(
  make: (profile: Profile) => ExporterDriver = (profile) => ualinkExporter({}, profile),
  side: ImportingSide = "fabric",
): ExporterUnderTest {
  if (side === "pcie")
    return {
      ...exporterUnderTest(make, "fabric"),
      importingDevice: "pcie0",
      partner: () => dynamicImporter(),
      addressOf: ualinkJobAddress,
    };
  return {
    driver: UALINK_EXPORTER,
    profiles: PROFILES,
    machine: (profile, partner) =>
      defineMachine({
        profile,
        topology: ualinkTopology,
        exporters: [make(profile)],
        importers: [partner],
      }),
    exportBuffer: (m, w) =>
      mustStep(m, w, {
        kind: "export",
        exporter: UALINK_EXPORTER,
        owner: ACCELERATOR,
        args: { size: 0x2000n },
      }),
    // The UALink port on the accelerator's pod: the suite's importer is the
    // contract importer accepting [ualink, sgt] (under linux-7.1, which has
    // no ualink type, the SGT over the port's PCIe side), its jobs issued
    // at the mapping's first fabric address.
    importingDevice: NIC,
    partner: () =>
      dynamicImporter({
        accepts: (_m, _w, req) => [
          accept(ualink, { port: NIC, fabric: FABRIC, linkUp: true }, CONTRACT_IMPORTER),
          accept(sgt, { device: req.device, acceptsP2P: req.peer2peer }, CONTRACT_IMPORTER),
        ],
        addressOf: ualinkJobAddress,
      }),
    addressOf: ualinkJobAddress,
    revoke: (_m, _w, buf) => ({ kind: "revoke", buf, permanent: true, by: "close" }),
  };
}

/** An op of the UALink importer. */
export const importerOp = (action: object): Op => ({
  kind: "driver",
  driver: UALINK_IMPORTER,
  action,
});

/** The UALink importer's one attachment to `buf`. */
function attOf(w: World, buf: number): number | undefined {
  return attachmentsOf(w, buf, UALINK_IMPORTER)[0];
}

/**
 * The UALink importer under test (its port `unic0`), on the example's topology.
 *
 * @param make - builds the importer (default: the correct one).
 * @returns the harness.
 */
export function importerUnderTest(
  make: () => ImporterDriver = () => ualinkImporter(),
): ImporterUnderTest {
  return {
    driver: UALINK_IMPORTER,
    profiles: PROFILES,
    machine: (profile, partner) =>
      defineMachine({
        profile,
        topology: ualinkTopology,
        exporters: [partner],
        importers: [make()],
      }),
    // The suite's exporter is a correct exporter of the type: the example's
    // own accelerator exporter under the contract exporter's name, since
    // the reference exporter offers no ualink.
    partner: (profile) => ualinkExporter({ name: CONTRACT_EXPORTER }, profile),
    exportingDevice: ACCELERATOR,
    importBuffer: (m, w, buf) => {
      const attached = mustStep(m, w, {
        kind: "attach",
        buf,
        importer: UALINK_IMPORTER,
        device: NIC,
        dynamic: true,
      });
      const att = attOf(attached, buf);
      if (att === undefined) throw new Error("no attachment");
      const holder = importerHolder(UALINK_IMPORTER, att);
      return mustSteps(m, attached, [
        { kind: "lock", buf, holder },
        { kind: "map", att, holder },
        { kind: "unlock", buf, holder },
      ]);
    },
    access: (_m, w, buf, dir) => {
      const att = attOf(w, buf);
      if (att === undefined) return [];
      return [
        importerOp({ op: "submit", att, len: 8n, dir }),
        (_w, created) => ({ kind: "dma-access", job: created[0] ?? -1 }),
        (_w, created) => ({ kind: "signal", job: created[0] ?? -1 }),
      ];
    },
    release: (_m, w, buf) =>
      attachmentsOf(w, buf, UALINK_IMPORTER).map((att) => importerOp({ op: "release", att })),
  };
}
