/**
 * Struct layouts against the kernel headers (kernel-model §2.1 for
 * include/uapi/linux/vfio.h, §3.1 for include/uapi/linux/iommufd.h):
 * sizeof, every member's offset and size, and little-endian encoding.
 */
import { describe, it, expect } from "vitest";
import {
  UAPI_STRUCTS,
  defineStruct,
  findUapiStruct,
  iommuIoasMapFile,
  offsetofEnd,
  vfioDeviceFeature,
} from "@dmabuf-ref/core";
import { ALL_LAYOUTS } from "./helpers.js";

/** `[member, offset, size, type]`; size 0 marks a flexible array. */
type Member = readonly [name: string, offset: number, size: number, type: string];

interface Expected {
  readonly name: string;
  readonly size: number;
  readonly members: readonly Member[];
}

/**
 * `struct iommu_test_cmd` (iommufd_test.h) as one view of its union: the
 * header, the union member the model uses at 16, and `last` at 64 (the
 * 48-byte union's largest member, `dirty`, ends there): 72 bytes.
 */
function testCmdView(name: string, unionMembers: readonly Member[]): Expected {
  return {
    name,
    size: 72,
    members: [
      ["size", 0, 4, "u32"],
      ["op", 4, 4, "u32"],
      ["id", 8, 4, "u32"],
      ["__reserved", 12, 4, "u32"],
      ...unionMembers,
      ["last", 64, 4, "u32"],
    ],
  };
}

const EXPECTED: readonly Expected[] = [
  {
    name: "vfio_device_feature",
    size: 8,
    members: [
      ["argsz", 0, 4, "u32"],
      ["flags", 4, 4, "u32"],
      ["data", 8, 0, "u8[]"],
    ],
  },
  {
    name: "vfio_device_feature_dma_buf",
    size: 16,
    members: [
      ["region_index", 0, 4, "u32"],
      ["open_flags", 4, 4, "u32"],
      ["flags", 8, 4, "u32"],
      ["nr_ranges", 12, 4, "u32"],
      ["dma_ranges", 16, 0, "struct vfio_region_dma_range[]"],
    ],
  },
  {
    name: "vfio_region_dma_range",
    size: 16,
    members: [
      ["offset", 0, 8, "u64"],
      ["length", 8, 8, "u64"],
    ],
  },
  {
    name: "iommu_destroy",
    size: 8,
    members: [
      ["size", 0, 4, "u32"],
      ["id", 4, 4, "u32"],
    ],
  },
  {
    name: "iommu_ioas_alloc",
    size: 12,
    members: [
      ["size", 0, 4, "u32"],
      ["flags", 4, 4, "u32"],
      ["out_ioas_id", 8, 4, "u32"],
    ],
  },
  {
    name: "iommu_ioas_iova_ranges",
    size: 32,
    members: [
      ["size", 0, 4, "u32"],
      ["ioas_id", 4, 4, "u32"],
      ["num_iovas", 8, 4, "u32"],
      ["__reserved", 12, 4, "u32"],
      ["allowed_iovas", 16, 8, "aligned_u64"],
      ["out_iova_alignment", 24, 8, "aligned_u64"],
    ],
  },
  {
    name: "iommu_iova_range",
    size: 16,
    members: [
      ["start", 0, 8, "aligned_u64"],
      ["last", 8, 8, "aligned_u64"],
    ],
  },
  {
    name: "iommu_ioas_map",
    size: 40,
    members: [
      ["size", 0, 4, "u32"],
      ["flags", 4, 4, "u32"],
      ["ioas_id", 8, 4, "u32"],
      ["__reserved", 12, 4, "u32"],
      ["user_va", 16, 8, "aligned_u64"],
      ["length", 24, 8, "aligned_u64"],
      ["iova", 32, 8, "aligned_u64"],
    ],
  },
  {
    name: "iommu_ioas_map_file",
    size: 40,
    members: [
      ["size", 0, 4, "u32"],
      ["flags", 4, 4, "u32"],
      ["ioas_id", 8, 4, "u32"],
      ["fd", 12, 4, "s32"],
      ["start", 16, 8, "aligned_u64"],
      ["length", 24, 8, "aligned_u64"],
      ["iova", 32, 8, "aligned_u64"],
    ],
  },
  {
    name: "iommu_ioas_unmap",
    size: 24,
    members: [
      ["size", 0, 4, "u32"],
      ["ioas_id", 4, 4, "u32"],
      ["iova", 8, 8, "aligned_u64"],
      ["length", 16, 8, "aligned_u64"],
    ],
  },
  {
    name: "iommu_ioas_allow_iovas",
    size: 24,
    members: [
      ["size", 0, 4, "u32"],
      ["ioas_id", 4, 4, "u32"],
      ["num_iovas", 8, 4, "u32"],
      ["__reserved", 12, 4, "u32"],
      ["allowed_iovas", 16, 8, "aligned_u64"],
    ],
  },
  {
    name: "iommu_ioas_copy",
    size: 40,
    members: [
      ["size", 0, 4, "u32"],
      ["flags", 4, 4, "u32"],
      ["dst_ioas_id", 8, 4, "u32"],
      ["src_ioas_id", 12, 4, "u32"],
      ["length", 16, 8, "aligned_u64"],
      ["dst_iova", 24, 8, "aligned_u64"],
      ["src_iova", 32, 8, "aligned_u64"],
    ],
  },
  {
    name: "iommu_option",
    size: 24,
    members: [
      ["size", 0, 4, "u32"],
      ["option_id", 4, 4, "u32"],
      ["op", 8, 2, "u16"],
      ["__reserved", 10, 2, "u16"],
      ["object_id", 12, 4, "u32"],
      ["val64", 16, 8, "aligned_u64"],
    ],
  },
  {
    name: "iommu_hwpt_alloc",
    size: 48,
    members: [
      ["size", 0, 4, "u32"],
      ["flags", 4, 4, "u32"],
      ["dev_id", 8, 4, "u32"],
      ["pt_id", 12, 4, "u32"],
      ["out_hwpt_id", 16, 4, "u32"],
      ["__reserved", 20, 4, "u32"],
      ["data_type", 24, 4, "u32"],
      ["data_len", 28, 4, "u32"],
      ["data_uptr", 32, 8, "aligned_u64"],
      ["fault_id", 40, 4, "u32"],
      ["__reserved2", 44, 4, "u32"],
    ],
  },
  {
    name: "iommu_hw_info",
    size: 40,
    members: [
      ["size", 0, 4, "u32"],
      ["flags", 4, 4, "u32"],
      ["dev_id", 8, 4, "u32"],
      ["data_len", 12, 4, "u32"],
      ["data_uptr", 16, 8, "aligned_u64"],
      ["out_data_type", 24, 4, "u32"],
      ["out_max_pasid_log2", 28, 1, "u8"],
      ["__reserved", 29, 1, "u8"],
      ["__reserved_1", 30, 1, "u8"],
      ["__reserved_2", 31, 1, "u8"],
      ["out_capabilities", 32, 8, "aligned_u64"],
    ],
  },
  {
    name: "iommu_hw_info_vtd",
    size: 24,
    members: [
      ["flags", 0, 4, "u32"],
      ["__reserved", 4, 4, "u32"],
      ["cap_reg", 8, 8, "aligned_u64"],
      ["ecap_reg", 16, 8, "aligned_u64"],
    ],
  },
  {
    name: "vfio_device_bind_iommufd",
    size: 16,
    members: [
      ["argsz", 0, 4, "u32"],
      ["flags", 4, 4, "u32"],
      ["iommufd", 8, 4, "s32"],
      ["out_devid", 12, 4, "u32"],
    ],
  },
  {
    name: "vfio_device_attach_iommufd_pt",
    size: 16,
    members: [
      ["argsz", 0, 4, "u32"],
      ["flags", 4, 4, "u32"],
      ["pt_id", 8, 4, "u32"],
      ["pasid", 12, 4, "u32"],
    ],
  },
  {
    name: "vfio_device_detach_iommufd_pt",
    size: 12,
    members: [
      ["argsz", 0, 4, "u32"],
      ["flags", 4, 4, "u32"],
      ["pasid", 8, 4, "u32"],
    ],
  },
  {
    name: "vfio_device_info",
    size: 24,
    members: [
      ["argsz", 0, 4, "u32"],
      ["flags", 4, 4, "u32"],
      ["num_regions", 8, 4, "u32"],
      ["num_irqs", 12, 4, "u32"],
      ["cap_offset", 16, 4, "u32"],
      ["pad", 20, 4, "u32"],
    ],
  },
  {
    name: "vfio_region_info",
    size: 32,
    members: [
      ["argsz", 0, 4, "u32"],
      ["flags", 4, 4, "u32"],
      ["index", 8, 4, "u32"],
      ["cap_offset", 12, 4, "u32"],
      ["size", 16, 8, "u64"],
      ["offset", 24, 8, "u64"],
    ],
  },
  {
    name: "vfio_irq_info",
    size: 16,
    members: [
      ["argsz", 0, 4, "u32"],
      ["flags", 4, 4, "u32"],
      ["index", 8, 4, "u32"],
      ["count", 12, 4, "u32"],
    ],
  },
  {
    name: "vfio_pci_hot_reset",
    size: 12,
    members: [
      ["argsz", 0, 4, "u32"],
      ["flags", 4, 4, "u32"],
      ["count", 8, 4, "u32"],
      ["group_fds", 12, 0, "s32[]"],
    ],
  },
  {
    name: "iommu_vfio_ioas",
    size: 12,
    members: [
      ["size", 0, 4, "u32"],
      ["ioas_id", 4, 4, "u32"],
      ["op", 8, 2, "u16"],
      ["__reserved", 10, 2, "u16"],
    ],
  },
  {
    name: "iommu_hwpt_invalidate",
    size: 32,
    members: [
      ["size", 0, 4, "u32"],
      ["hwpt_id", 4, 4, "u32"],
      ["data_uptr", 8, 8, "aligned_u64"],
      ["data_type", 16, 4, "u32"],
      ["entry_len", 20, 4, "u32"],
      ["entry_num", 24, 4, "u32"],
      ["__reserved", 28, 4, "u32"],
    ],
  },
  {
    name: "iommu_viommu_alloc",
    size: 40,
    members: [
      ["size", 0, 4, "u32"],
      ["flags", 4, 4, "u32"],
      ["type", 8, 4, "u32"],
      ["dev_id", 12, 4, "u32"],
      ["hwpt_id", 16, 4, "u32"],
      ["out_viommu_id", 20, 4, "u32"],
      ["data_len", 24, 4, "u32"],
      ["__reserved", 28, 4, "u32"],
      ["data_uptr", 32, 8, "aligned_u64"],
    ],
  },
  {
    name: "iommu_vdevice_alloc",
    size: 24,
    members: [
      ["size", 0, 4, "u32"],
      ["viommu_id", 4, 4, "u32"],
      ["dev_id", 8, 4, "u32"],
      ["out_vdevice_id", 12, 4, "u32"],
      ["virt_id", 16, 8, "aligned_u64"],
    ],
  },
  {
    name: "iommu_ioas_change_process",
    size: 8,
    members: [
      ["size", 0, 4, "u32"],
      ["__reserved", 4, 4, "u32"],
    ],
  },
  testCmdView("iommu_test_cmd", []),
  testCmdView("iommu_test_cmd_add_reserved", [
    ["add_reserved.start", 16, 8, "aligned_u64"],
    ["add_reserved.length", 24, 8, "aligned_u64"],
  ]),
  testCmdView("iommu_test_cmd_memory_limit", [["memory_limit.limit", 16, 4, "u32"]]),
  testCmdView("iommu_test_cmd_dmabuf_get", [
    ["dmabuf_get.length", 16, 4, "u32"],
    ["dmabuf_get.open_flags", 20, 4, "u32"],
  ]),
  testCmdView("iommu_test_cmd_dmabuf_revoke", [
    ["dmabuf_revoke.dmabuf_fd", 16, 4, "s32"],
    ["dmabuf_revoke.revoked", 20, 4, "u32"],
  ]),
];

function layoutNamed(name: string) {
  const found = ALL_LAYOUTS.find((l) => l.name === name);
  if (found === undefined) throw new Error(`no exported layout named ${name}`);
  return found;
}

describe("uAPI struct layouts", () => {
  it.each(EXPECTED)(
    "$name: sizeof and every member's offset, size and type match the kernel header",
    ({ name, size, members }) => {
      const layout = layoutNamed(name);
      expect(layout.size).toBe(size);
      expect(layout.fields.map((f) => [f.name, f.offset, f.size, f.type])).toEqual(members);
      expect(findUapiStruct(name)).toEqual({ name, size, fields: layout.fields });
    },
  );

  it("registry: UAPI_STRUCTS lists exactly the exported layouts, each checked above", () => {
    const names = UAPI_STRUCTS.map((s) => s.name).sort();
    expect(names).toEqual(ALL_LAYOUTS.map((l) => l.name).sort());
    expect(names).toEqual(EXPECTED.map((e) => e.name).sort());
    expect(findUapiStruct("vfio_no_such_struct")).toBeUndefined();
  });

  it("every member is naturally aligned and sizeof is a multiple of the widest member", () => {
    for (const s of UAPI_STRUCTS) {
      const widths = s.fields.filter((f) => f.size > 0).map((f) => f.size);
      for (const f of s.fields)
        expect(f.offset % Math.max(f.size, 1), `${s.name}.${f.name}`).toBe(0);
      expect(s.size % Math.max(...widths), s.name).toBe(0);
    }
  });

  it("defineStruct pads like the x86-64 ABI: a u64 after a u32 moves to 8, tail padding rounds up", () => {
    const a = defineStruct("a", [
      ["x", "u32"],
      ["y", "u64"],
    ] as const);
    expect(a.fields.map((f) => f.offset)).toEqual([0, 8]);
    expect(a.size).toBe(16);
    const b = defineStruct("b", [
      ["y", "u64"],
      ["x", "u32"],
    ] as const);
    expect(b.size).toBe(16);
    const c = defineStruct("c", [
      ["x", "u8"],
      ["y", "u16"],
      ["z", "u8"],
    ] as const);
    expect(c.fields.map((f) => f.offset)).toEqual([0, 2, 4]);
    expect(c.size).toBe(6);
  });

  it("offsetofEnd is offset + size of the member and throws on an unknown member", () => {
    expect(offsetofEnd(iommuIoasMapFile, "iova")).toBe(40);
    expect(offsetofEnd(iommuIoasMapFile, "fd")).toBe(16);
    expect(offsetofEnd(vfioDeviceFeature, "flags")).toBe(8);
    expect(() => offsetofEnd(iommuIoasMapFile, "nope")).toThrow(/nope/);
  });
});

describe("uAPI encoding is little-endian", () => {
  const mapFile = {
    size: 40,
    flags: 0x6,
    ioas_id: 0x0a0b0c0d,
    fd: -1,
    start: 0x0102030405060708n,
    length: 0x200000n,
    iova: 0xffffffffffffffffn,
  };

  it("iommu_ioas_map_file encodes each member at its offset, least significant byte first", () => {
    const bytes = iommuIoasMapFile.encode(mapFile);
    expect(bytes.length).toBe(40);
    expect([...bytes.subarray(0, 4)]).toEqual([0x28, 0, 0, 0]);
    expect([...bytes.subarray(4, 8)]).toEqual([6, 0, 0, 0]);
    expect([...bytes.subarray(8, 12)]).toEqual([0x0d, 0x0c, 0x0b, 0x0a]);
    expect([...bytes.subarray(12, 16)]).toEqual([0xff, 0xff, 0xff, 0xff]);
    expect([...bytes.subarray(16, 24)]).toEqual([8, 7, 6, 5, 4, 3, 2, 1]);
    expect([...bytes.subarray(24, 32)]).toEqual([0, 0, 0x20, 0, 0, 0, 0, 0]);
    expect([...bytes.subarray(32, 40)]).toEqual(new Array<number>(8).fill(0xff));
  });

  it("iommu_ioas_map_file decodes fd 0xffffffff as the signed -1", () => {
    expect(iommuIoasMapFile.decode(iommuIoasMapFile.encode(mapFile)).fd).toBe(-1);
  });

  it("vfio_device_feature encodes argsz and flags as little-endian u32", () => {
    const bytes = vfioDeviceFeature.encode({ argsz: 0x12345678, flags: 0x1000b });
    expect([...bytes]).toEqual([0x78, 0x56, 0x34, 0x12, 0x0b, 0x00, 0x01, 0x00]);
  });

  it("decode reads a struct at an offset inside a larger, offset view", () => {
    const backing = new Uint8Array(64);
    const view = backing.subarray(3);
    view.set(iommuIoasMapFile.encode(mapFile), 5);
    expect(iommuIoasMapFile.decode(view, 5)).toEqual(mapFile);
  });

  it("decode throws RangeError when fewer than sizeof bytes remain", () => {
    expect(() => iommuIoasMapFile.decode(new Uint8Array(39))).toThrow(RangeError);
    expect(() => iommuIoasMapFile.decode(new Uint8Array(40), 1)).toThrow(RangeError);
  });
});
