// A small importer written in the consumer's own project, against the
// installed packages only: a dynamic, revocable importer ("my-importer")
// built with core's public API (defineDriver, the SGT type, the owed-unmap
// continuations and core's command submission and teardown ops), and its
// harness for `importerContract`: it imports a buffer the way its users
// do (attach, then map under the buffer's reservation lock).
import {
  accept,
  defineDriver,
  defineMachine,
  importerHolder,
  owedUnmaps,
  referenceTopology,
  releaseOp,
  sgt,
  submitOp,
} from "@dmabuf-ref/core";
import { attachmentsOf, mustStep, mustSteps, releaseCall, submitCall } from "@dmabuf-ref/contracts";

const NAME = "my-importer";

/**
 * The importer: accepts one SGT with P2P, on invalidate_mappings owes an
 * unmap it performs as soon as the resv lock is free (`owedUnmaps`).
 *
 * @returns {import("@dmabuf-ref/core").ImporterDriver}
 */
export function myImporterDriver() {
  return defineDriver({
    role: "importer",
    name: NAME,
    slices: {},
    callbacks: {
      allowPeer2peer: true,
      accepts: (_m, _w, req) => [
        accept(sgt, { device: req.device, acceptsP2P: req.peer2peer }, NAME),
      ],
      invalidateMappings: (_m, world) => ({ world, events: [] }),
      pending: (_m, w) => owedUnmaps(w, NAME),
    },
    ops: [submitOp(), releaseOp()],
  });
}

/**
 * The importer under test, for `importerContract`.
 *
 * @param {() => import("@dmabuf-ref/core").ImporterDriver} [driver] the importer's driver
 * @returns {import("@dmabuf-ref/contracts").ImporterUnderTest}
 */
export function myImporter(driver = myImporterDriver) {
  /** @param {import("@dmabuf-ref/core").World} w @param {number} buf */
  const attOf = (w, buf) => attachmentsOf(w, buf, NAME)[0];
  return {
    driver: NAME,
    machine: (profile, partner) =>
      defineMachine({
        profile,
        topology: referenceTopology,
        exporters: [partner],
        importers: [driver()],
      }),
    exportingDevice: "dev0",
    importBuffer: (m, w, buf) => {
      const attached = mustStep(m, w, {
        kind: "attach",
        buf,
        importer: NAME,
        device: "dev1",
        dynamic: true,
      });
      const att = attOf(attached, buf);
      if (att === undefined) throw new Error("no attachment");
      const holder = importerHolder(NAME, att);
      return mustSteps(m, attached, [
        { kind: "lock", buf, holder },
        { kind: "map", att, holder },
        { kind: "unlock", buf, holder },
      ]);
    },
    // A job through the command submission, then its access and its signal.
    access: (_m, w, buf, dir) => {
      const att = attOf(w, buf);
      if (att === undefined) return [];
      return [
        submitCall(att, dir, NAME),
        (_w, created) => ({ kind: "dma-access", job: created[0] ?? -1 }),
        (_w, created) => ({ kind: "signal", job: created[0] ?? -1 }),
      ];
    },
    release: (_m, w, buf) => attachmentsOf(w, buf, NAME).map((att) => releaseCall(att, NAME)),
    userOps: (_m, w) =>
      [...w.atts.entries()]
        .filter(([, a]) => a.importer === NAME)
        .flatMap(([att]) => [submitCall(att, "write", NAME), releaseCall(att, NAME)]),
  };
}
