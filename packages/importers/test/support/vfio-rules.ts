/**
 * VFIO's attach and pin rules (kernel-model §2.3, §2.4), shared by the
 * VFIO-like test exporters of the importer tests (importers may not import
 * the real vfio-pci exporter).
 */
import { attachRevocable, driverOptions, err, mustAtt, mustBuf, ok } from "@dmabuf-ref/core";
import type { DriverStep, Machine, Result, World } from "@dmabuf-ref/core";
import * as z from "zod";

/** What the profile says of vfio-pci, read the way the vfio-pci driver reads it. */
function vfioRules(m: Machine): { readonly pin: string; readonly refusesNonRevocable: boolean } {
  return driverOptions(
    m.profile,
    "vfio-pci",
    z.object({ pin: z.enum(["eopnotsupp", "noop"]), refusesNonRevocable: z.boolean() }),
  );
}

/** `attach`: no P2P → EOPNOTSUPP; revoked → ENODEV; 7.1 non-revocable → EOPNOTSUPP. */
export function vfioLikeAttach(m: Machine, w: World, att: number): Result<DriverStep> {
  const a = mustAtt(w, att);
  if (!a.peer2peer) return err("EOPNOTSUPP", "VFIO needs a P2P-capable importer");
  if (mustBuf(w, a.buf).revoked !== "usable") return err("ENODEV", "the dma-buf is revoked");
  if (vfioRules(m).refusesNonRevocable && !attachRevocable(a)) {
    return err("EOPNOTSUPP", "the importer is not revocable");
  }
  return ok({ world: w, events: [] });
}

/** `pin`: the 6.19-rc always-failing pin, or the 7.1 no-op. */
export function vfioLikePin(m: Machine, w: World): Result<DriverStep> {
  return vfioRules(m).pin === "eopnotsupp"
    ? err("EOPNOTSUPP", "VFIO cannot be pinned (6.19)")
    : ok({ world: w, events: [] });
}
