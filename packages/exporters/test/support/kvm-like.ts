/**
 * A KVM-like importer for the exporter tests (exporters may not import the
 * real KVM importer): it attaches as Xu Yilun's KVM does (dynamic,
 * `dev = NULL`, `allow_peer2peer`, with an invalidate callback, so it is
 * revocable; kernel-model §5.1), accepts only `kvm-pfn`, and, like the
 * reference importer, unmaps on its own after an invalidate (KVM's zap).
 */
import { accept, importerHolder, kvmPfn, owedUnmaps, runScript, step } from "@dmabuf-ref/core";
import type { Encoded, ImporterDriver, Machine, StepOutcome, World } from "@dmabuf-ref/core";

/** The test importer's name. */
export const KVM_LIKE = "kvm-like";

/** KVM as the RFC attaches: dynamic, dev=NULL, allow_peer2peer, invalidate, [kvm-pfn]. */
export const kvmLikeImporter: ImporterDriver = {
  name: KVM_LIKE,
  allowPeer2peer: true,
  accepts: () => [accept(kvmPfn, {}, "kvm")],
  invalidateMappings: (_m, world) => ({ world, events: [] }),
  pending: (_m, w) => owedUnmaps(w, KVM_LIKE),
};

/** The same without an invalidate callback: not `dma_buf_attach_revocable()`. */
export const kvmLikeNoInvalidate: ImporterDriver = {
  name: "kvm-like-pinned",
  allowPeer2peer: true,
  accepts: () => [accept(kvmPfn, {}, "kvm")],
};

/** KVM's attach: `dma_buf_dynamic_attach(dmabuf, NULL, ...)`. */
export function kvmAttach(m: Machine, w: World, buf: number, importer = KVM_LIKE): StepOutcome {
  return step(m, w, { kind: "attach", buf, importer, device: null, dynamic: true });
}

/**
 * What KVM's fault does to get a PFN in the model: lock resv, map (the
 * exporter's `get_pfn`), unlock.
 *
 * @returns the world, the mapping's payload, or the map's errno.
 */
export function kvmGetPfn(
  m: Machine,
  w: World,
  buf: number,
  att: number,
): { world: World; payload: Encoded<unknown> | undefined; errno?: string } {
  const holder = importerHolder(KVM_LIKE, att);
  const run = runScript(m, w, [
    { kind: "lock", buf, holder },
    { kind: "map", att, holder },
    { kind: "unlock", buf, holder },
  ]);
  const errno = run.results[1]?.error?.errno;
  const payload = run.world.atts.get(att)?.mapping?.payload;
  return errno === undefined ? { world: run.world, payload } : { world: run.world, payload, errno };
}
