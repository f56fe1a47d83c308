import { kvmCloseOrder } from "./kvm-close-order.js";
import { capabilityQuery } from "./capability-query.js";
import { closeOrderWindow } from "./close-order-window.js";
import { closeRevokesForever } from "./close-revokes-forever.js";
import { flrWithoutUnmap } from "./flr-without-unmap.js";
import { gpuEvictMovesKvm } from "./gpu-evict-kvm.js";
import { gpuMovableNeedsPinForIommufd } from "./gpu-movable-needs-pin.js";
import { gpuToIommufdSpdk } from "./gpu-to-iommufd-spdk.js";
import { iommufdSelftestDmabufRevoke, iommufdSelftestDmabufSimple } from "./iommufd-selftest.js";
import { krefUnderflow } from "./kref-underflow.js";
import { mmapPermRevoke } from "./mmap-perm-revoke.js";
import { qemuP2pFlr } from "./qemu-p2p-flr.js";
import { odpRdmaAccepted, pinnedRdmaRefused } from "./rdma-import.js";
import type { Scenario } from "./scenario.js";
import { type1PfnFishing } from "./type1-pfn-fishing.js";
import { vfioToKvmPrivateMmio } from "./vfio-to-kvm.js";

/** Every scenario `dmabuf-ref scenario` knows, in listing order. */
export const SCENARIOS: readonly Scenario[] = [
  qemuP2pFlr,
  flrWithoutUnmap,
  closeRevokesForever,
  closeOrderWindow,
  krefUnderflow,
  mmapPermRevoke,
  type1PfnFishing,
  iommufdSelftestDmabufSimple,
  iommufdSelftestDmabufRevoke,
  capabilityQuery,
  pinnedRdmaRefused,
  odpRdmaAccepted,
  vfioToKvmPrivateMmio,
  kvmCloseOrder,
  gpuEvictMovesKvm,
  gpuToIommufdSpdk,
  gpuMovableNeedsPinForIommufd,
];
