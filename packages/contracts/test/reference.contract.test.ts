/*
 * Core's reference exporter, reference importer (with the contract
 * importer's command submission) and the built-in mapping types pass
 * their contract suites (issue 13, item 2).
 */
import {
  defineMachine,
  importerHolder,
  referenceExporter,
  referenceTopology,
} from "@dmabuf-ref/core";
import type { Op, World } from "@dmabuf-ref/core";
import {
  CONTRACT_IMPORTER,
  attachmentsOf,
  dynamicImporter,
  exporterContract,
  importerContract,
  mustStep,
  mustSteps,
  releaseCall,
  submitCall,
} from "@dmabuf-ref/contracts";

exporterContract(() => ({
  driver: "ref-exporter",
  machine: (profile, partner) =>
    defineMachine({
      profile,
      topology: referenceTopology,
      exporters: [referenceExporter({ region: "ram0" })],
      importers: [partner],
    }),
  exportBuffer: (m, w) =>
    mustStep(m, w, {
      kind: "export",
      exporter: "ref-exporter",
      owner: "dev0",
      args: { size: 0x2000n },
    }),
  importingDevice: "dev1",
  revoke: (_m, _w, buf) => ({ kind: "revoke", buf, permanent: true, by: "close" }),
}));

/** The dynamic importer's one attachment to `buf`. */
function attOf(w: World, buf: number): number | undefined {
  return attachmentsOf(w, buf, CONTRACT_IMPORTER)[0];
}

importerContract(() => ({
  driver: CONTRACT_IMPORTER,
  machine: (profile, partner) =>
    defineMachine({
      profile,
      topology: referenceTopology,
      exporters: [partner],
      importers: [dynamicImporter()],
    }),
  exportingDevice: "dev0",
  importBuffer: (m, w, buf) => {
    const attached = mustStep(m, w, {
      kind: "attach",
      buf,
      importer: CONTRACT_IMPORTER,
      device: "dev1",
      dynamic: true,
    });
    const att = attOf(attached, buf);
    if (att === undefined) throw new Error("no attachment");
    const holder = importerHolder(CONTRACT_IMPORTER, att);
    const ops: Op[] = [
      { kind: "lock", buf, holder },
      { kind: "map", att, holder },
      { kind: "unlock", buf, holder },
    ];
    return mustSteps(m, attached, ops);
  },
  access: (_m, w, buf, dir) => {
    const att = attOf(w, buf);
    if (att === undefined) return [];
    return [
      submitCall(att, dir),
      (_w, created) => ({ kind: "dma-access", job: created[0] ?? -1 }),
      (_w, created) => ({ kind: "signal", job: created[0] ?? -1 }),
    ];
  },
  release: (_m, w, buf) => attachmentsOf(w, buf, CONTRACT_IMPORTER).map((att) => releaseCall(att)),
  userOps: (_m, w) =>
    [...w.atts.entries()]
      .filter(([, a]) => a.importer === CONTRACT_IMPORTER)
      .flatMap(([att]) => [submitCall(att, "write"), submitCall(att, "read"), releaseCall(att)]),
}));
