import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { json, runCli } from "./run-cli.js";

const dir = mkdtempSync(join(tmpdir(), "dmabuf-ref-replay-"));
let n = 0;
function file(yaml: string): string {
  const path = join(dir, `replay-${n++}.yaml`);
  writeFileSync(path, yaml);
  return path;
}

interface Result {
  index: number;
  ok: boolean;
  errno?: string;
  ret?: number;
  out?: Record<string, unknown>;
  dma?: string;
  landed?: { region: string; offset: string };
}
interface Report {
  profile: string;
  results: Result[];
  violations: unknown[];
  faults: unknown[];
}

function replayJson(path: string, ...extra: string[]): Report {
  const run = runCli("replay", path, "--json", ...extra);
  expect(run.status, run.stderr).toBe(0);
  return json(run) as Report;
}

const EXPORT = `
  - fd: vfio0
    ioctl: VFIO_DEVICE_FEATURE
    arg:
      flags: [GET]
      feature: DMA_BUF
      data: { region_index: 0, open_flags: [O_RDWR, O_CLOEXEC], flags: 0, dma_ranges: [{ offset: 0, length: 0x200000 }] }
    as: buf0
  - { fd: iommufd, ioctl: IOMMU_IOAS_ALLOC, arg: { flags: 0 }, as: ioas0 }
`;

describe("dmabuf-ref replay", () => {
  it("replays the README's QEMU FLR transcript: DMA ok, then a fault after the FLR, no violation", () => {
    const r = replayJson("rfc/replays/qemu-flr.yaml");
    expect(r.profile).toBe("linux-7.1");
    expect(r.results.map((x) => x.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(r.results.every((x) => x.ok)).toBe(true);
    expect(r.results.flatMap((x) => (x.dma === undefined ? [] : [x.dma]))).toEqual(["ok", "fault"]);
    expect(r.results[1]?.out).toMatchObject({ out_ioas_id: 1 });
    expect(r.violations).toEqual([]);
    expect(r.faults).toHaveLength(1);
  });

  it("every value the C struct can hold reaches the model and gets the kernel's errno", () => {
    const r = replayJson(
      file(`calls:
  - fd: vfio0
    ioctl: VFIO_DEVICE_FEATURE
    arg: { flags: [GET], feature: DMA_BUF, data: { region_index: 0, open_flags: 0, flags: 0, nr_ranges: 0, dma_ranges: [] } }
  - fd: vfio0
    ioctl: VFIO_DEVICE_FEATURE
    arg: { flags: [GET], feature: DMA_BUF, data: { region_index: 6, open_flags: 0, flags: 0, dma_ranges: [{ offset: 0, length: 4096 }] } }
${EXPORT}
  - { fd: iommufd, ioctl: IOMMU_IOAS_MAP_FILE, arg: { flags: 0x20, ioas_id: ioas0.out_ioas_id, fd: buf0, start: 0, length: 4096 } }
  - { fd: iommufd, ioctl: IOMMU_IOAS_MAP_FILE, arg: { flags: [READABLE], ioas_id: 99, fd: buf0, start: 0, length: 4096 } }
  - { fd: iommufd, ioctl: IOMMU_IOAS_ALLOC, arg: { size: 8 } }
  - { fd: vfio0, ioctl: IOMMU_IOAS_ALLOC, arg: {} }
`),
    );
    expect(r.results.map((x) => (x.ok ? "ok" : x.errno))).toEqual([
      "EINVAL", // nr_ranges == 0
      "ENODEV", // region_index >= VFIO_PCI_ROM_REGION_INDEX
      "ok",
      "ok",
      "EOPNOTSUPP", // unknown map flag bits
      "ENOENT", // no such IOAS
      "EINVAL", // size below the minimum
      "ENOTTY", // an iommufd ioctl on a VFIO device fd
    ]);
  });

  it("closing the device revokes for good: a later MAP_FILE of the still-open fd is ENODEV", () => {
    const r = replayJson(
      file(`calls:
${EXPORT}
  - { event: close, device: vfio0 }
  - { fd: iommufd, ioctl: IOMMU_IOAS_MAP_FILE, arg: { flags: [READABLE, WRITEABLE], ioas_id: ioas0.out_ioas_id, fd: buf0, start: 0, length: 0x200000 } }
`),
    );
    expect(r.results.at(-1)).toMatchObject({ ok: false, errno: "ENODEV" });
  });

  it("a DMA result reports where it landed: the region and the offset in it", () => {
    const r = replayJson("rfc/replays/qemu-flr.yaml");
    const dma = r.results.filter((x) => x.dma !== undefined);
    expect(dma.map((x) => [x.dma, x.landed])).toEqual([
      ["ok", { region: "vfio0.bar0", offset: "0x0" }],
      ["fault", undefined],
    ]);
  });

  it("the text form prints one email-safe line per call", () => {
    const run = runCli("replay", "rfc/replays/qemu-flr.yaml");
    expect(run.status).toBe(0);
    const lines = run.stdout.trimEnd().split("\n");
    expect(lines.length).toBeGreaterThanOrEqual(8);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(72);
  });

  it.each([
    ["an unknown ioctl name", "calls: [{ fd: iommufd, ioctl: IOMMU_IOAS_FROB }]", "calls[0].ioctl"],
    [
      "a tail whose length is not size minus sizeof",
      "calls: [{ fd: iommufd, ioctl: IOMMU_IOAS_ALLOC, arg: { size: 16, tail: [0] } }]",
      "calls[0].arg.tail",
    ],
    [
      "a reused name",
      "calls: [{ fd: iommufd, ioctl: IOMMU_IOAS_ALLOC, as: a }, { fd: iommufd, ioctl: IOMMU_IOAS_ALLOC, as: a }]",
      "calls[1].as",
    ],
    [
      "an unknown key in the machine description",
      "machine: { devices: [{ id: vfio0, driver: vfio-pci, bars: [], colour: red }] }\ncalls: []",
      "colour",
    ],
    ["an unknown event", "calls: [{ event: reboot, device: vfio0 }]", "calls[0]"],
    [
      "an unknown flag name",
      "calls: [{ fd: iommufd, ioctl: IOMMU_IOAS_MAP, arg: { flags: [EXECUTABLE] } }]",
      "calls[0].arg.flags",
    ],
    [
      "an unresolved name",
      "calls: [{ fd: iommufd, ioctl: IOMMU_DESTROY, arg: { id: ioas9.out_ioas_id } }]",
      "calls[0].arg.id",
    ],
    [
      "a non-integer",
      "calls: [{ fd: iommufd, ioctl: IOMMU_DESTROY, arg: { id: 1.5 } }]",
      "calls[0].arg.id",
    ],
    [
      "a value too big for its field",
      "calls: [{ fd: iommufd, ioctl: IOMMU_DESTROY, arg: { id: 0x100000000 } }]",
      "calls[0].arg.id",
    ],
    [
      "a field the struct does not have",
      "calls: [{ fd: iommufd, ioctl: IOMMU_DESTROY, arg: { ioas: 1 } }]",
      "calls[0].arg.ioas",
    ],
  ])("a structurally wrong file (%s) exits 2 naming the call and field", (_what, yaml, where) => {
    const run = runCli("replay", file(yaml));
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(where);
  });
});
