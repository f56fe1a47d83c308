import { boot, isPayloadOf, sgt, step } from "@dmabuf-ref/core";
import type { Scenario } from "./scenario.js";
import { expectOk } from "./expect.js";
import { matrixMachine } from "../matrix/machine.js";
import { VmmSession, withSession } from "./session.js";

const LEN = 0x20_0000n;

/** Runs an RDMA importer op through `step` as the session's next call, returning its errno or "ok". */
function call(
  s: VmmSession,
  label: string,
  driver: string,
  action: Readonly<Record<string, unknown>>,
): string {
  let result = "ok";
  s.apply((w) => {
    const r = step(s.machine, w, { kind: "driver", driver, action });
    if (r.status === "done") return { world: r.world, events: r.events };
    if (r.status === "blocked") throw new Error(`${label} blocked: ${r.reason}`);
    result = r.error.errno;
    return { world: w, events: [{ kind: "error", actor: "rdma", call: label, error: r.error }] };
  });
  return result;
}

/**
 * VFIO exports a BAR to the legacy pinned RDMA importer
 * (`ib_umem_dmabuf_get_pinned`): it has no invalidate callback, so it is
 * not revocable, and under 7.1 VFIO refuses it at attach (kernel-model
 * §1.3, §2.3, §5.2; Pranjal Shrivastava's report on v5 6/8).
 */
export const pinnedRdmaRefused: Scenario = {
  name: "pinned-rdma-refused",
  profile: "linux-7.1",
  expectation: "VFIO refuses the pinned RDMA importer (not revocable): EOPNOTSUPP, nothing mapped",
  sources: "kernel-model §1.3, §2.3, §2.4, §5.2",
  run(profile) {
    const m = matrixMachine(profile);
    return withSession(new VmmSession(m, boot(m), "rdma-app"), (s) => {
      const fd = expectOk(s.exportBar("vfio0", 0, [{ offset: 0n, length: LEN }]));
      const got = call(s, "ib_umem_dmabuf_get_pinned", "rdma-pinned", {
        op: "ib_umem_dmabuf_get",
        ...{ device: "nic1", fd, offset: 0n, size: LEN },
      });
      const attachments = s.world.bufs.get(fd)?.attachments.length ?? -1;
      return {
        met: got === "EOPNOTSUPP" && attachments === 0 && s.world.violations.size === 0,
        verdict: `ib_umem_dmabuf_get_pinned ${got}, ${attachments} attachment(s) left`,
      };
    });
  },
};

/**
 * VFIO exports a BAR to an ODP (dynamic) RDMA MR: it is revocable, so it is
 * accepted; an FLR invalidates it, the NIC's access faults, and the next
 * ODP fault re-maps (kernel-model §5.2).
 */
export const odpRdmaAccepted: Scenario = {
  name: "odp-rdma-accepted",
  profile: "linux-7.1",
  expectation:
    "VFIO accepts the ODP RDMA importer (revocable); after an FLR its DMA faults and the next fault re-maps",
  sources: "kernel-model §1.3, §2.5, §5.2",
  run(profile) {
    const m = matrixMachine(profile);
    return withSession(new VmmSession(m, boot(m), "rdma-app"), (s) => {
      const fd = expectOk(s.exportBar("vfio0", 0, [{ offset: 0n, length: LEN }]));
      const got = call(s, "ib_umem_dmabuf_get", "rdma-odp", {
        op: "ib_umem_dmabuf_get",
        ...{ device: "nic1", fd, offset: 0n, size: LEN },
      });
      const att = s.world.bufs.get(fd)?.attachments[0];
      if (att === undefined)
        return { met: false, verdict: `ib_umem_dmabuf_get ${got}, no attachment` };
      call(s, "ODP fault", "rdma-odp", { op: "odp-fault", att });
      const dmaAddr = (): bigint => {
        const payload = s.world.atts.get(att)?.mapping?.payload;
        return isPayloadOf(sgt, payload) ? (payload.value.entries[0]?.dmaAddress ?? 0n) : 0n;
      };
      const addr = dmaAddr();
      const before = s.dma("nic1", addr, 0x1000n, "write");
      expectOk(s.vfio({ op: "flr", device: "vfio0" }));
      const after = s.dma("nic1", addr, 0x1000n, "write");
      const refault = call(s, "ODP fault", "rdma-odp", { op: "odp-fault", att });
      const again = s.dma("nic1", dmaAddr(), 0x1000n, "write");
      const violations = s.world.violations.size;
      const met =
        got === "ok" &&
        before === "ok" &&
        after === "fault" &&
        refault === "ok" &&
        again === "ok" &&
        violations === 0;
      return {
        met,
        verdict:
          `import ${got}, DMA ${before}, after FLR ${after}, re-fault ${refault}, then ${again}, ` +
          `${violations} violation(s)`,
      };
    });
  },
};
