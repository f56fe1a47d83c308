/**
 * The replay benchmark's workloads (`replay.bench.ts`), as replay files'
 * `calls`: kept apart so that a test checks they still replay without an
 * errno (a workload the replay rejects measures nothing). Issue 10.
 */

import { dmabufGetCall } from "../src/replay/vfio-feature.js";

/** The replay benchmark's workloads. */
export const REPLAY_WORKLOADS = ["ioas-alloc", "map-unmap"] as const;

/**
 * A workload: `ioas-alloc` is N `IOMMU_IOAS_ALLOC` calls (N objects live at
 * the end); `map-unmap` is one VFIO dma-buf and one IOAS, then N/2 pairs of
 * `IOMMU_IOAS_MAP_FILE` and `IOMMU_IOAS_UNMAP` of it.
 */
export type Workload = (typeof REPLAY_WORKLOADS)[number];

/**
 * The calls of a workload of about `n` calls (`map-unmap` adds its two
 * set-up calls).
 *
 * @param workload - which workload.
 * @param n - calls (pairs for `map-unmap`: n / 2).
 * @returns the calls, as a replay file holds them (unparsed).
 */
export function workloadCalls(workload: Workload, n: number): unknown[] {
  if (workload === "ioas-alloc") {
    return Array.from({ length: n }, () => ({
      fd: "iommufd",
      ioctl: "IOMMU_IOAS_ALLOC",
      arg: { flags: 0 },
    }));
  }
  const head: unknown[] = [
    dmabufGetCall({
      device: "vfio0",
      region: 0,
      openFlags: 0,
      ranges: [{ offset: 0, length: 0x200000 }],
      as: "buf0",
    }),
    { fd: "iommufd", ioctl: "IOMMU_IOAS_ALLOC", arg: { flags: 0 }, as: "ioas0" },
  ];
  const body: unknown[] = [];
  for (let i = 0; i < n / 2; i++) {
    body.push({
      fd: "iommufd",
      ioctl: "IOMMU_IOAS_MAP_FILE",
      arg: {
        flags: ["READABLE", "WRITEABLE"],
        ioas_id: "ioas0.out_ioas_id",
        fd: "buf0",
        start: 0,
        length: 0x200000,
      },
      // A name is bound once per file (replay's rule, as a VMM keeps each
      // mapping's IOVA apart): each pair names its own.
      as: `map${String(i)}`,
    });
    body.push({
      fd: "iommufd",
      ioctl: "IOMMU_IOAS_UNMAP",
      arg: { ioas_id: "ioas0.out_ioas_id", iova: `map${String(i)}.iova`, length: 0x200000 },
    });
  }
  return [...head, ...body];
}
