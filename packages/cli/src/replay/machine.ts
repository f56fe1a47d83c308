/*
 * The `machine:` of a replay or scenario file: the hardware a transcribed
 * VMM sequence ran on, as a VMM's configuration names it (PCI functions
 * bound to vfio-pci with their BARs, GPUs, RDMA NICs and other DMA-capable
 * functions, IOMMU groups, RAM, the PCIe switches and host bridges that
 * decide P2P distances), whether a KVM VM runs, and the reference drivers.
 * Each device names its driver, so a test, a contract suite or `--load`
 * can substitute one. The builder that turns it into a Machine is
 * scenarios/machine.ts' `buildMachine`, which also builds the default
 * machine from {@link DEFAULT_MACHINE}.
 */
import * as z from "zod";
import { withFields } from "@dmabuf-ref/core/encoding";

const NUMBER = /^(0[xX][0-9a-fA-F]+|[0-9]+)$/;

/** A byte count or address: a non-negative integer or a decimal/`0x` string, as a bigint. */
export const sizeValueSchema = z
  .union([z.number().int().nonnegative(), z.string().regex(NUMBER, "a decimal or 0x number")])
  .transform((v) => BigInt(v));

const isPowerOfTwo = (v: bigint): boolean => v > 0n && (v & (v - 1n)) === 0n;

/** An inclusive IOVA interval `{ start, last }` (`struct iommu_iova_range`). */
const iovaIntervalSchema = z
  .strictObject({ start: sizeValueSchema, last: sizeValueSchema })
  .refine((r) => r.start <= r.last, { message: "start must not be above last" });

/**
 * What the IOMMU driver reports for the domains it allocates for a device,
 * the values `iopt_table_add_domain` reads (kernel-model §3.1): the page sizes
 * (`domain->pgsize_bitmap`; the smallest is the IOVA alignment an attach
 * raises the IOAS to: the iommufd selftest's mock domain has 2 KiB pages),
 * the aperture (`domain->geometry`) and the reserved regions
 * (`iommu_get_resv_regions`). Absent fields keep the defaults: 4 KiB, 2 MiB
 * and 1 GiB pages, IOVAs 0..2^48-1, the x86 MSI window reserved.
 */
export const iommuDescriptionSchema = z.strictObject({
  /** Page sizes in bytes, each a power of two. */
  pageSizes: z
    .array(sizeValueSchema.refine(isPowerOfTwo, { message: "a page size is a power of two" }))
    .min(1)
    .optional(),
  /** The aperture, inclusive. */
  aperture: iovaIntervalSchema.optional(),
  /** Reserved IOVA ranges, inclusive; `[]` reserves none. */
  reserved: z.array(iovaIntervalSchema).optional(),
});

/** A device's IOMMU domains (see {@link iommuDescriptionSchema}). */
export type IommuDescription = z.output<typeof iommuDescriptionSchema>;

/**
 * One BAR of a VFIO PCI function (`pci_resource_len`; a memory BAR's size is
 * a power of two and its base is aligned to it, PCI 3.0 §6.2.5.1).
 */
export const barDescriptionSchema = z
  .strictObject({
    /** The BAR number, 0-5 (`VFIO_PCI_BAR0_REGION_INDEX`..`BAR5`). */
    index: z.number().int().min(0).max(5),
    /** Bytes the BAR decodes: a power of two, at least one 4 KiB page (absent for an empty BAR). */
    size: sizeValueSchema
      .refine((v) => isPowerOfTwo(v) && v >= 0x1000n, {
        message: "a BAR's size is a power of two of at least 4096",
      })
      .optional(),
    /**
     * vfio-pci claimed the BAR's resource at enable (`pci_request_selected_regions`);
     * false models a BAR another driver holds (the request failed with EBUSY).
     */
    claimed: z.boolean().default(true),
    /** The BAR is not implemented (`pci_resource_len` is 0): vfio-pci keeps ENODEV for it. */
    empty: z.boolean().default(false),
  })
  .refine((b) => b.empty || b.size !== undefined, {
    message: "a BAR that is not empty has a size",
    path: ["size"],
  });

/** One BAR (see {@link barDescriptionSchema}). */
export type BarDescription = z.output<typeof barDescriptionSchema>;

/**
 * The kernel driver a PCI function is bound to, which decides what it
 * exports or imports: `vfio-pci` (drivers/vfio/pci: a VFIO device fd whose
 * BARs it exports as dma-bufs, kernel-model §2), `gpu` (a TTM GPU driver,
 * amdgpu/xe: exports buffer objects placed in VRAM or system pages, §1.1),
 * `rdma` (an RDMA NIC, drivers/infiniband: registers MRs over dma-bufs
 * through `ib_umem_dmabuf_get*()`, and may export a BAR window through
 * uverbs DMABUF objects, §5.2).
 */
export const deviceDriverSchema = z.enum(["vfio-pci", "gpu", "rdma"]);

/** A function's driver (see {@link deviceDriverSchema}). */
export type DeviceDriver = z.output<typeof deviceDriverSchema>;

/**
 * How an RDMA NIC registers a memory region over a dma-buf (kernel-model
 * §5.2): `odp` is `ib_umem_dmabuf_get()`, a dynamic attach whose
 * `invalidate_mappings` stops the HW and re-maps on the next ODP fault
 * (revocable); `pinned` is `ib_umem_dmabuf_get_pinned()`, which since 7.1
 * has no invalidate op (not revocable, so VFIO refuses it under 7.1);
 * `pinned-revocable` is Jacob Moroni's proposed interface (only where the
 * profile has it).
 */
export const rdmaUmemKindSchema = z.enum(["odp", "pinned", "pinned-revocable"]);

/** One way an RDMA NIC registers MRs (see {@link rdmaUmemKindSchema}). */
export type RdmaUmemKind = z.output<typeof rdmaUmemKindSchema>;

/**
 * The names the CLI's machines give their built-in drivers (the matrix
 * machine's and every `machine:` description's), which a reference or
 * plugin driver may not take: a `driver` op and `{ op: export, exporter }`
 * look a driver up by name. The reference drivers' own names are listed
 * last.
 *
 * @category Replay
 */
export const BUILT_IN_DRIVER_NAMES: readonly string[] = Object.freeze([
  "vfio-pci",
  "gpu",
  "rdma",
  "iommufd",
  "kvm",
  "rdma-odp",
  "rdma-pinned",
  "rdma-pinned-revocable",
  "vfio-type1",
  "mm",
  "ref-exporter",
  "ref-importer",
]);

/** The built-in drivers a reference driver may not be named after (its own names are its to take). */
const BUILT_IN_DRIVERS: readonly string[] = BUILT_IN_DRIVER_NAMES.filter(
  (n) => n !== "ref-exporter" && n !== "ref-importer",
);

/** A power-of-two byte count of at least one 4 KiB page, as a memory BAR decodes. */
const barSizeSchema = sizeValueSchema.refine((v) => isPowerOfTwo(v) && v >= 0x1000n, {
  message: "a BAR's size is a power of two of at least 4096",
});

/** A PCI function of the machine. */
export const deviceDescriptionSchema = z
  .strictObject({
    /** Its name in the replay (`fd: vfio0`, `device: dev1`). */
    id: z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, "a device id is letters, digits, _ and -"),
    /**
     * The driver it is bound to ({@link deviceDriverSchema}). Absent: a
     * DMA-capable function only (it DMAs and can be attached to an IOAS,
     * and exports nothing).
     */
    driver: deviceDriverSchema.optional(),
    /** Its memory BARs (only for a vfio-pci function); each index once. */
    bars: z.array(barDescriptionSchema).default([]),
    /**
     * A GPU's VRAM (required for, and only for, `driver: gpu`): the bytes
     * its VRAM BAR decodes, a power of two. It becomes the region
     * `<id>.vram` (kind `vram`) that buffer objects are placed in; they are
     * evicted to system pages in `ram0` (TTM's `TTM_PL_SYSTEM`).
     */
    vram: barSizeSchema.optional(),
    /**
     * A GPU physical function's SR-IOV VFs (only for `driver: gpu`): the
     * device ids of its virtual functions, whose dma-bufs the PF may
     * resolve to its own VRAM (the IOV interconnect, kernel-model §4.1).
     */
    sriov: z
      .strictObject({
        /** The VFs' device ids, each a device of this machine. */
        vfs: z.array(z.string().min(1)).min(1),
      })
      .optional(),
    /**
     * How an RDMA NIC registers MRs over a dma-buf (only for
     * `driver: rdma`; default `odp`): one kind or a list
     * ({@link rdmaUmemKindSchema}). Each kind listed by some NIC registers
     * that umem importer once (`rdma-odp`, `rdma-pinned`,
     * `rdma-pinned-revocable`); a call names the NIC as its `device`.
     */
    umem: z.union([rdmaUmemKindSchema, z.array(rdmaUmemKindSchema).min(1)]).optional(),
    /**
     * An RDMA NIC's BAR window that its uverbs context exports as dma-bufs
     * (only for `driver: rdma`; "RDMA/uverbs: Add DMABUF object type and
     * operations", 0ac6f4056c4a): the bytes it decodes, a power of two. It
     * becomes the region `<id>.bar0`. Absent: the NIC exports nothing.
     */
    exportBar: barSizeSchema.optional(),
    /**
     * Its IOMMU group: functions in one group share a `vfio_device_set`, so a
     * hot reset resets them together. Default: a group of its own.
     */
    group: z.union([z.string().min(1), z.number().int().nonnegative()]).optional(),
    /** The PCIe switch it sits below. Default: a switch of its own below `hb0`. */
    switch: z.string().min(1).optional(),
    /**
     * Its DMA is translated by the IOMMU (default true); an object describes
     * the domains the IOMMU driver allocates for it
     * ({@link iommuDescriptionSchema}).
     */
    iommu: z.union([z.boolean(), iommuDescriptionSchema]).default(true),
  })
  .refine((d) => new Set(d.bars.map((b) => b.index)).size === d.bars.length, {
    message: "a device lists each BAR index once",
    path: ["bars"],
  })
  .refine((d) => d.driver === "vfio-pci" || d.bars.length === 0, {
    message: "only a vfio-pci function lists BARs here",
    path: ["bars"],
  })
  .superRefine((d, ctx) => {
    // Each driver's own fields, on that driver's functions only.
    const only = (field: "vram" | "sriov" | "umem" | "exportBar", driver: DeviceDriver): void => {
      if (d[field] !== undefined && d.driver !== driver)
        ctx.addIssue({
          code: "custom",
          message: `only a function with driver: ${driver} has ${field}`,
          path: [field],
        });
    };
    only("vram", "gpu");
    only("sriov", "gpu");
    only("umem", "rdma");
    only("exportBar", "rdma");
    if (d.driver === "gpu" && d.vram === undefined)
      ctx.addIssue({
        code: "custom",
        message: "a GPU has VRAM: give its size",
        path: ["vram"],
      });
  });

/** One PCI function (see {@link deviceDescriptionSchema}). */
export type DeviceDescription = z.output<typeof deviceDescriptionSchema>;

/** The default machine's PCI functions: `vfio0` on vfio-pci (BAR0 16 MiB, BAR2 64 KiB) below `sw0`, `dev1` below `sw1`. */
const DEFAULT_DEVICES: DeviceDescription[] = z.array(deviceDescriptionSchema).parse([
  {
    id: "vfio0",
    driver: "vfio-pci",
    bars: [
      { index: 0, size: 0x100_0000 },
      { index: 2, size: 0x1_0000 },
    ],
    switch: "sw0",
  },
  { id: "dev1", switch: "sw1" },
]);
/** The default machine's switches, both below `hb0`. */
const DEFAULT_SWITCHES = [
  { id: "sw0", hostBridge: "hb0", acsRedirect: false },
  { id: "sw1", hostBridge: "hb0", acsRedirect: false },
];
/** The default machine's host bridge, which forwards P2P. */
const DEFAULT_HOST_BRIDGES = [{ id: "hb0", p2p: true }];

/**
 * A replay's machine: RAM, PCI functions, and the PCIe topology that gives
 * `pci_p2pdma_distance()` (same switch: bus address; same P2P-capable host
 * bridge: through it; otherwise unreachable).
 */
export const machineDescriptionSchema = z
  .strictObject({
    /** System RAM in bytes (a multiple of 4096; default 1 GiB). */
    ram: sizeValueSchema
      .refine((v) => v > 0n && v % 0x1000n === 0n, {
        message: "RAM is a non-zero multiple of 4096",
      })
      .default(0x4000_0000n),
    /**
     * The PCI functions. Absent: the default machine's (`vfio0` and `dev1`),
     * with its switches and host bridge, so that a file changing only RAM,
     * the reference drivers or an importer's presence need not copy them.
     */
    devices: z.array(deviceDescriptionSchema).min(1).optional(),
    /** PCIe switches (default: one per device that names none). */
    switches: z
      .array(
        z.strictObject({
          /** Switch name. */
          id: z.string().min(1),
          /** The host bridge above it. */
          hostBridge: z.string().min(1),
          /** ACS P2P Request Redirect: peer traffic goes up through the IOMMU. */
          acsRedirect: z.boolean().default(false),
        }),
      )
      .default([]),
    /**
     * vfio-pci options that override the profile's, to replay a kernel
     * between releases: `krefRearm: false` is v7.1-rc before c64a647c84f3
     * (the kref underflow after a revoke), `closeOrder` the order of
     * `vfio_pci_core_close_device`'s steps (d97708701434 put cleanup first).
     */
    vfio: z
      .strictObject({
        /** Re-arm the dma-buf kref at the end of a revoke (c64a647c84f3). */
        krefRearm: z.boolean().optional(),
        /** The order of the close steps. */
        closeOrder: z.enum(["disable-then-cleanup", "cleanup-then-disable"]).optional(),
      })
      .default({}),
    /**
     * A KVM VM runs on the machine: KVM's dma-buf importer (Xu Yilun's RFC,
     * kernel-model §5.1), whose memslots (`KVM_SET_USER_MEMORY_REGION2`
     * with `KVM_MEM_VFIO_DMABUF`) and guest accesses are the `{ op: ... }`
     * calls of a scenario. It has no options yet; the profile says whether
     * the memslot flag exists (`kvm.dmabufImport`). Absent: no VM.
     */
    kvm: z.strictObject({}).optional(),
    /**
     * VFIO's legacy type1 container backend (drivers/vfio/vfio_iommu_type1.c,
     * the importer `vfio-type1`): `{ op: VFIO_IOMMU_MAP_DMA, device, vaddr,
     * iova, size }` maps a process's memory for a device by user address,
     * following a BAR mmap (`VM_PFNMAP`) to its raw PFNs with no lifetime
     * link (seeds 000, 001), and `VFIO_IOMMU_UNMAP_DMA` undoes it. It has no
     * options. Absent: no type1 container.
     */
    type1: z.strictObject({}).optional(),
    /**
     * The reference drivers (core's `referenceExporter` and
     * `referenceImporter`, kernel-model §3.6, §1.3): a kernel-memory dma-buf
     * exporter carving buffers from `ram0` like iommufd's selftest mock,
     * and the minimal correct revocable importer. Both are present by
     * default; `false` leaves one out.
     */
    reference: z
      .strictObject({
        /** The reference exporter, or false for none. */
        exporter: z
          .union([
            z.literal(false),
            z.strictObject({
              /** Its driver name (default `ref-exporter`). */
              name: z.string().min(1).optional(),
              /**
               * It has the iommufd selftest mock's private phys hook
               * (CONFIG_IOMMUFD_TEST, kernel-model §3.3 step 4), so iommufd's
               * MAP_FILE accepts its buffers.
               */
              selftestHook: z.boolean().optional(),
            }),
          ])
          .default({}),
        /** The reference importer, or false for none. */
        importer: z
          .union([
            z.literal(false),
            z.strictObject({
              /** Its driver name (default `ref-importer`). */
              name: z.string().min(1).optional(),
            }),
          ])
          .default({}),
      })
      .default({ exporter: {}, importer: {} }),
    /** Host bridges (default: `hb0`, which forwards P2P). */
    hostBridges: z
      .array(
        z.strictObject({
          /** Host bridge name. */
          id: z.string().min(1),
          /** P2P through this root complex works (the p2pdma whitelist). */
          p2p: z.boolean(),
        }),
      )
      .default([]),
  })
  .superRefine((m, ctx) => {
    if (m.devices === undefined && (m.switches.length > 0 || m.hostBridges.length > 0))
      ctx.addIssue({
        code: "custom",
        message:
          "switches and host bridges connect the devices named here: name the devices too, or leave all three to the default machine",
        path: ["devices"],
      });
  })
  .transform((m) =>
    m.devices === undefined
      ? withFields(m, {
          devices: DEFAULT_DEVICES,
          switches: DEFAULT_SWITCHES,
          hostBridges: DEFAULT_HOST_BRIDGES,
        })
      : withFields(m, { devices: m.devices }),
  )
  .superRefine((m, ctx) => {
    const ids = m.devices.map((d) => d.id);
    ids.forEach((id, i) => {
      if (ids.indexOf(id) !== i)
        ctx.addIssue({
          code: "custom",
          message: `device ${id} is listed twice`,
          path: ["devices", i, "id"],
        });
      if (id === "iommufd")
        ctx.addIssue({
          code: "custom",
          message: "iommufd is the iommufd's name",
          path: ["devices", i, "id"],
        });
    });
    m.devices.forEach((d, i) => {
      (d.sriov?.vfs ?? []).forEach((vf, j) => {
        if (vf === d.id || !ids.includes(vf))
          ctx.addIssue({
            code: "custom",
            message: `${vf} is not another device of this machine`,
            path: ["devices", i, "sriov", "vfs", j],
          });
      });
    });
    const ref = m.reference;
    const taken = new Set(BUILT_IN_DRIVERS);
    (["exporter", "importer"] as const).forEach((role) => {
      const r = ref[role];
      if (r !== false && r.name !== undefined && taken.has(r.name))
        ctx.addIssue({
          code: "custom",
          message: `${r.name} is a built-in driver's name`,
          path: ["reference", role, "name"],
        });
    });
    if (
      ref.exporter !== false &&
      ref.importer !== false &&
      (ref.exporter.name ?? "ref-exporter") === (ref.importer.name ?? "ref-importer")
    )
      ctx.addIssue({
        code: "custom",
        message: "the reference exporter and importer need distinct names",
        path: ["reference", "importer", "name"],
      });
    const switches = new Set(m.switches.map((s) => s.id));
    m.devices.forEach((d, i) => {
      if (d.switch !== undefined && !switches.has(d.switch))
        ctx.addIssue({
          code: "custom",
          message: `no switch ${d.switch}`,
          path: ["devices", i, "switch"],
        });
    });
    const bridges = new Set([
      ...m.hostBridges.map((h) => h.id),
      ...(m.hostBridges.length === 0 ? ["hb0"] : []),
    ]);
    m.switches.forEach((s, i) => {
      if (!bridges.has(s.hostBridge))
        ctx.addIssue({
          code: "custom",
          message: `no host bridge ${s.hostBridge}`,
          path: ["switches", i, "hostBridge"],
        });
    });
  });

/** A machine description as written (see {@link machineDescriptionSchema}). */
export type MachineDescriptionInput = z.input<typeof machineDescriptionSchema>;
/** A validated machine description. */
export type MachineDescription = z.output<typeof machineDescriptionSchema>;

/**
 * `machine: default`: 1 GiB of RAM; `vfio0` bound to vfio-pci with BAR0 =
 * 16 MiB and BAR2 = 64 KiB, below switch `sw0`; `dev1`, a DMA-capable
 * function below `sw1`; both switches below the P2P-capable host bridge `hb0`.
 */
export const DEFAULT_MACHINE: MachineDescription = machineDescriptionSchema.parse({});
