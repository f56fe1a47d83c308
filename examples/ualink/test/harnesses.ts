/*
 * The example's drivers in the harnesses of @dmabuf-ref/contracts: the
 * machine each runs on and the few entry points a suite cannot know (how
 * a buffer is exported, how the NIC imports, accesses and lets go).
 * Shared by the contract test and by the test that proves the suites
 * catch a wrong variant of each driver.
 */
import { defineMachine, importerHolder, linux71 } from "@dmabuf-ref/core";
import type { ExporterDriver, ImporterDriver, Op, Profile, World } from "@dmabuf-ref/core";
import { attachmentsOf, mustStep, mustSteps } from "@dmabuf-ref/contracts";
import type { ExporterUnderTest, ImporterUnderTest } from "@dmabuf-ref/contracts";
import {
  ACCELERATOR,
  NIC,
  UALINK_EXPORTER,
  UALINK_IMPORTER,
  ualinkExporter,
  ualinkImporter,
  ualinkRfc,
  ualinkTopology,
} from "../src/index.js";

/** Mainline v7.1 (the legacy SGT path) and ualink-rfc (the negotiation with the type). */
export const PROFILES: readonly Profile[] = [linux71, ualinkRfc];

/**
 * The UALink exporter under test, on the example's topology.
 *
 * @param make - builds the exporter for a profile (default: the correct one).
 * @returns the harness.
 */
export function exporterUnderTest(
  make: (profile: Profile) => ExporterDriver = (profile) => ualinkExporter({}, profile),
): ExporterUnderTest {
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
    // A plain PCIe function: the contract importer speaks SGT only, so the
    // exporter's SGT path (P2P to the HBM through the host bridge) is what
    // the suite drives; fabric.test.ts drives the UALink path.
    importingDevice: "pcie0",
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
    exportingDevice: "exp0",
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
