/**
 * docs/kernel-index.md maps every kernel symbol the model's TSDoc names to
 * the model symbols and their file (scripts/kernel-index.ts, issue 11
 * item 5). `pnpm test` must fail when the committed index no longer matches
 * the sources, so this test runs the script's `--check` on the repository;
 * the other tests run it on a small fixture tree to pin down its rule: what
 * counts as a kernel symbol, what is a model of it and what only cites it.
 * The script is spawned as `pnpm kernel-index` runs it (it lives outside
 * any package, so it is not imported).
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "./run-cli.js";

/** What one run of the script printed and how it exited. */
interface Run {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node --import tsx scripts/kernel-index.ts ARGS` from the repository root. */
function runKernelIndex(...args: string[]): Promise<Run> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "scripts/kernel-index.ts", ...args],
      { cwd: REPO_ROOT, encoding: "utf8", timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
        done({ status: code, stdout, stderr });
      },
    );
  });
}

/** One table row of the index: kernel symbol, model symbol, how, where. */
interface Row {
  readonly kernel: string;
  readonly model: string;
  readonly how: string;
  readonly where: string;
  readonly section: string;
}

/** The table rows of an index, each with the kernel-file section it is under. */
function rowsOf(markdown: string): Row[] {
  const rows: Row[] = [];
  let section = "";
  for (const line of markdown.split("\n")) {
    if (line.startsWith("## ")) section = line.slice(3).replaceAll("`", "");
    if (!line.startsWith("| `")) continue;
    const cells = line
      .split("|")
      .slice(1, -1)
      .map((c) => c.trim().replaceAll("`", ""));
    rows.push({
      kernel: cells[0] ?? "",
      model: cells[1] ?? "",
      how: cells[2] ?? "",
      where: cells[3] ?? "",
      section,
    });
  }
  return rows;
}

/** A fixture source: every kind of reference the rule must take or leave. */
const FIXTURE = `import { defineThing } from "./define.js";

/**
 * Revokes every buffer of a device, as \`vfio_pci_dma_buf_move()\` does: it
 * calls \`dma_buf_invalidate_mappings\` on \`struct vfio_pci_dma_buf\` under
 * \`dma_buf_ops.pin\`'s lock, for \`VFIO_DEVICE_FEATURE\`. Not kernel symbols
 * by the rule: \`nr_ranges\`, \`EINVAL\`, \`restoreBuffers\`, \`mmap()\`,
 * \`priv->vdev\`, \`O_RDWR\`, \`DMA_BUF\`.
 *
 * @example
 * \`\`\`ts
 * // \`iommufd_fops_ioctl\` inside fenced code is not indexed
 * \`\`\`
 * @kernel drivers/vfio/pci/vfio_pci_dmabuf.c vfio_pci_dma_buf_move
 *   vfio_pci_dma_buf_cleanup()
 */
export function revokeBuffers(): void {}

/** The pages of an area (\`memdup_array_user()\` is a call, so it counts). */
export interface AreaPages {
  /** Fills a domain, like \`iopt_area_fill_domain\`. */
  readonly fill: number;
}

/** Not exported, so not indexed: \`vfio_pci_core_disable\`. */
function hidden(): void {}
hidden();

/** A driver definition. */
export const thing = defineThing({
  ops: {
    /** The reset ioctl (\`vfio_pci_ioctl_reset\`). */
    reset: 1,
  },
});
`;

describe("kernel index (docs/kernel-index.md, scripts/kernel-index.ts)", () => {
  const dir = mkdtempSync(join(tmpdir(), "kernel-index-"));
  let repoCheck: Run;
  let written: Run;
  let fixtureIndex: string;
  let staleCheck: Run;

  beforeAll(async () => {
    mkdirSync(join(dir, "packages/demo/src"), { recursive: true });
    writeFileSync(join(dir, "packages/demo/src/revoke.ts"), FIXTURE);
    writeFileSync(join(dir, "stale.md"), "# an index written before the sources changed\n");
    [repoCheck, written, staleCheck] = await Promise.all([
      runKernelIndex("--check"),
      runKernelIndex("--root", dir),
      runKernelIndex("--check", "--root", dir, "--file", join(dir, "stale.md")),
    ]);
    fixtureIndex = readFileSync(join(dir, "docs/kernel-index.md"), "utf8");
  }, 120_000);

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("the committed docs/kernel-index.md is current with the sources (pnpm kernel-index --check exits 0)", () => {
    // Also the determinism check: the committed file came from an earlier
    // run, and a fresh run must reproduce it byte for byte.
    expect(repoCheck.stderr).toBe("");
    expect(repoCheck.status).toBe(0);
  });

  it("a stale index fails --check with exit 1 and names the command that regenerates it", () => {
    expect(staleCheck.status).toBe(1);
    expect(staleCheck.stderr).toMatch(/is not current.*pnpm kernel-index/);
  });

  it("a @kernel tag makes the declaration the model of each symbol it names, under the file it names", () => {
    expect(written.status).toBe(0);
    const rows = rowsOf(fixtureIndex);
    const models = rows.filter((r) => r.how === "model");
    expect(models.map((r) => [r.kernel, r.model, r.section])).toEqual([
      ["vfio_pci_dma_buf_cleanup", "revokeBuffers", "drivers/vfio/pci/vfio_pci_dmabuf.c"],
      ["vfio_pci_dma_buf_move", "revokeBuffers", "drivers/vfio/pci/vfio_pci_dmabuf.c"],
    ]);
    expect(models[0]?.where).toBe("packages/demo/src/revoke.ts");
  });

  it("backticked kernel identifiers are citations; model names, fields, errnos, syscalls and fenced code are not", () => {
    const cites = rowsOf(fixtureIndex)
      .filter((r) => r.how === "cites")
      .map((r) => `${r.kernel} <- ${r.model}`)
      .sort();
    expect(cites).toEqual([
      "VFIO_DEVICE_FEATURE <- revokeBuffers",
      "dma_buf_invalidate_mappings <- revokeBuffers",
      "dma_buf_ops.pin <- revokeBuffers",
      "iopt_area_fill_domain <- AreaPages.fill",
      "memdup_array_user <- AreaPages",
      "vfio_pci_dma_buf <- revokeBuffers",
      "vfio_pci_ioctl_reset <- thing.ops.reset",
    ]);
  });

  it("rows are grouped by kernel file and sorted by kernel symbol within each file", () => {
    const rows = rowsOf(fixtureIndex);
    const sections = [...new Set(rows.map((r) => r.section))];
    expect(sections).toEqual([...sections].sort());
    for (const s of sections) {
      const kernels = rows.filter((r) => r.section === s).map((r) => r.kernel);
      expect(kernels).toEqual([...kernels].sort());
    }
    expect(rows.find((r) => r.kernel === "iopt_area_fill_domain")?.section).toBe(
      "drivers/iommu/iommufd/pages.c",
    );
  });
});
