import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { REPO_ROOT, json, runCli } from "./run-cli.js";

describe("dmabuf-ref uapi", () => {
  it("uapi layout prints the kernel struct's size and member offsets as JSON", () => {
    const run = runCli("uapi", "layout", "iommu_ioas_map_file", "--json");
    expect(run.status).toBe(0);
    expect(json(run)).toEqual({
      struct: "iommu_ioas_map_file",
      size: 40,
      fields: [
        { name: "size", offset: 0, size: 4, type: "u32" },
        { name: "flags", offset: 4, size: 4, type: "u32" },
        { name: "ioas_id", offset: 8, size: 4, type: "u32" },
        { name: "fd", offset: 12, size: 4, type: "s32" },
        { name: "start", offset: 16, size: 8, type: "aligned_u64" },
        { name: "length", offset: 24, size: 8, type: "aligned_u64" },
        { name: "iova", offset: 32, size: 8, type: "aligned_u64" },
      ],
    });
  });

  it("uapi layout shows vfio_region_dma_range and the flexible dma_ranges[] member", () => {
    const range = json(runCli("uapi", "layout", "vfio_region_dma_range", "--json"));
    expect(range).toMatchObject({ struct: "vfio_region_dma_range", size: 16 });
    const feature = runCli("uapi", "layout", "vfio_device_feature_dma_buf");
    expect(feature.status).toBe(0);
    expect(feature.stdout).toContain("struct vfio_device_feature_dma_buf (16 bytes)");
    expect(feature.stdout).toMatch(/16\s+0\s+struct vfio_region_dma_range\[\]\s+dma_ranges/);
  });

  it("uapi ioctl prints the macro's number as a 0x hex string", () => {
    expect(json(runCli("uapi", "ioctl", "IOMMU_IOAS_MAP_FILE", "--json"))).toEqual({
      name: "IOMMU_IOAS_MAP_FILE",
      number: "0x3b8f",
    });
    expect(json(runCli("uapi", "ioctl", "VFIO_DEVICE_FEATURE", "--json"))).toEqual({
      name: "VFIO_DEVICE_FEATURE",
      number: "0x3b75",
    });
    expect(runCli("uapi", "ioctl", "VFIO_DEVICE_RESET").stdout).toContain("0x3b6f");
  });

  it("an unknown struct or ioctl name exits 2 and lists the known ones", () => {
    const struct = runCli("uapi", "layout", "iommu_ioas_map_files", "--json");
    expect(struct.status).toBe(2);
    expect(struct.stderr).toContain('unknown struct "iommu_ioas_map_files"');
    expect(struct.stderr).toContain("iommu_ioas_map_file");
    const ioctl = runCli("uapi", "ioctl", "IOMMU_IOAS_COPYY");
    expect(ioctl.status).toBe(2);
    expect(ioctl.stderr).toContain('unknown ioctl "IOMMU_IOAS_COPYY"');
  });
});

describe("the root script", () => {
  it("pnpm -s dmabuf-ref runs the CLI from the repository root with clean JSON on stdout", () => {
    const r = spawnSync(
      "pnpm",
      ["-s", "dmabuf-ref", "uapi", "ioctl", "IOMMU_IOAS_UNMAP", "--json"],
      {
        cwd: REPO_ROOT,
        encoding: "utf8",
        timeout: 60_000,
      },
    );
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ name: "IOMMU_IOAS_UNMAP", number: "0x3b86" });
  });
});
