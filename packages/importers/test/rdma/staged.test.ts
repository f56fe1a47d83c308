/**
 * `ib_umem_dmabuf_get*()` names the call that refused (DESIGN §3.2's
 * stages; kernel-model §5.2), so "why did this MR registration fail?" has
 * an answer without guessing.
 */
import { describe, expect, it } from "vitest";
import { U64_MAX, boot, linux619, linux71 } from "@dmabuf-ref/core";
import type { StepOutcome } from "@dmabuf-ref/core";
import type { IbUmemDmabufGetArgs, RdmaImporterName } from "../../src/index.js";
import { exportRam, exportVfio, makeMachine } from "../kvm/fixtures.js";
import { umemGet } from "./fixtures.js";

function args(importer: RdmaImporterName, fd: number, over: Partial<IbUmemDmabufGetArgs> = {}) {
  return { importer, device: "nic0", fd, offset: 0n, size: 0x1000n, ...over };
}

function stageOf(r: StepOutcome): string {
  return r.status === "failed" ? `${r.stage ?? "(none)"} ${r.error.errno}` : r.status;
}

describe("ib_umem_dmabuf_get* says which call refused (kernel-model §5.2)", () => {
  it("a window past the dma-buf is refused by the argument checks with EINVAL", () => {
    const m = makeMachine(linux71);
    const { world, buf } = exportVfio(m, boot(m));
    expect(stageOf(umemGet(m, world, args("rdma-odp", buf, { offset: U64_MAX })))).toBe(
      "args EINVAL",
    );
  });

  it("an fd that is no dma-buf is refused by dma_buf_get with EBADF", () => {
    const m = makeMachine(linux71);
    const { world, buf } = exportVfio(m, boot(m));
    expect(stageOf(umemGet(m, world, args("rdma-odp", buf + 50)))).toBe("fd EBADF");
  });

  it.each([
    [
      "under 7.1 VFIO's attach refuses the pinned importer, which is not revocable",
      linux71,
      "exporter-attach EOPNOTSUPP",
    ],
    [
      "under 6.19 the pinned importer attaches to VFIO and dma_buf_pin refuses",
      linux619,
      "pin EOPNOTSUPP",
    ],
  ] as const)("%s", (_rule, profile, stage) => {
    const m = makeMachine(profile);
    const { world, buf } = exportVfio(m, boot(m));
    expect(stageOf(umemGet(m, world, args("rdma-pinned", buf)))).toBe(stage);
  });

  it("the pinned-revocable interface is refused by the argument checks where it does not exist", () => {
    const m = makeMachine(linux71);
    const { world, buf } = exportRam(m, boot(m));
    expect(stageOf(umemGet(m, world, args("rdma-pinned-revocable", buf)))).toBe("args EOPNOTSUPP");
  });

  it("a pinned MR of system pages pins and maps at get time", () => {
    const m = makeMachine(linux71);
    const { world, buf } = exportRam(m, boot(m));
    const r = umemGet(m, world, args("rdma-pinned", buf));
    expect(r.status).toBe("done");
    if (r.status === "done") {
      const att = r.created ?? -1;
      expect(r.world.atts.get(att)?.pins).toBe(1);
      expect(r.world.atts.get(att)?.mapping).not.toBeNull();
    }
  });
});
