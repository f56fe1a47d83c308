/*
 * The UALink example loaded into the CLI from outside the repository's
 * packages (`--load examples/ualink/plugin.ts`): every command that
 * builds a machine or negotiates sees its type, profile, hardware and
 * drivers. The CLI runs in this process through `@dmabuf-ref/cli`'s
 * `runCli`, the entry point `dmabuf-ref` itself calls.
 */
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runCollectedAsync } from "@dmabuf-ref/cli";
import type { CollectedRun } from "@dmabuf-ref/cli";

/** A file of the example folder, as an absolute path (vitest's cwd is the repository root). */
const here = (file: string): string => fileURLToPath(new URL(`../${file}`, import.meta.url));

const LOAD = ["--load", here("plugin.ts")];

/** What a `dmabuf-ref` run printed and how it exited. */
type CliRun = CollectedRun;

/** `dmabuf-ref ARGS` in this process. */
async function cli(...args: string[]): Promise<CliRun> {
  return runCollectedAsync(args);
}

/** One cell of `matrix --json`. */
interface Cell {
  readonly exporter: string;
  readonly importer: string;
  readonly ok: boolean;
  readonly type?: string;
}

describe("negotiate --load examples/ualink/plugin.ts", () => {
  const negotiate = (accepts: string): Promise<CliRun> =>
    cli(
      "negotiate",
      ...LOAD,
      "--profile",
      "ualink-rfc",
      "--offers",
      here("ualink-offers.yaml"),
      "--accepts",
      here(accepts),
    );

  it("the exporter's first offer wins: a port on its fabric gets ualink", async () => {
    const r = await negotiate("ualink-accepts.yaml");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("ualink-exporter -> ualink-importer under ualink-rfc");
    expect(r.stdout).toContain("match: ualink (exporter index 0, importer index 0)");
  });

  it("a port whose link is down aborts the negotiation with ENODEV (no fallback to sgt)", async () => {
    const r = await negotiate("ualink-accepts-down.yaml");
    expect(r.status).toBe(1);
    expect(r.stdout).toContain("no match: ENODEV: UALink port unic0 is down");
    expect(r.stdout).toContain("[1] sgt x [1] sgt: not considered: negotiation aborted earlier");
  });
});

describe("matrix --load examples/ualink/plugin.ts", () => {
  const matrix = async (profile: string): Promise<Cell[]> => {
    const r = await cli("matrix", ...LOAD, "--profile", profile, "--json");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    return JSON.parse(r.stdout) as Cell[];
  };
  const cell = (cells: Cell[], exporter: string, importer: string): Cell | undefined =>
    cells.find((c) => c.exporter === exporter && c.importer === importer);

  it("under ualink-rfc the UALink pair negotiates ualink, and the built-ins meet the plugin over sgt", async () => {
    const cells = await matrix("ualink-rfc");
    expect(cell(cells, "ualink-exporter", "ualink-importer")).toMatchObject({
      ok: true,
      type: "ualink",
    });
    expect(cell(cells, "ualink-exporter", "rdma-odp")).toMatchObject({ ok: true, type: "sgt" });
    expect(cell(cells, "vfio-pci", "ualink-importer")).toMatchObject({ ok: true, type: "sgt" });
  });

  it("the exporter refuses an importer it cannot revoke (a pinned RDMA MR)", async () => {
    const cells = await matrix("ualink-rfc");
    expect(cell(cells, "ualink-exporter", "rdma-pinned")).toMatchObject({ ok: false });
  });

  it("under linux-7.1 (no negotiation) the same pair falls back to the legacy sgt", async () => {
    const cells = await matrix("linux-7.1");
    expect(cell(cells, "ualink-exporter", "ualink-importer")).toMatchObject({
      ok: true,
      type: "sgt",
    });
  });
});

describe("scenario --load examples/ualink/plugin.ts", () => {
  it("lists the plugin's scenario after the shipped ones", async () => {
    const r = await cli("scenario", ...LOAD, "--list", "--json");
    expect(r.status).toBe(0);
    const rows = JSON.parse(r.stdout) as { name: string; profile: string }[];
    expect(rows.at(-1)).toMatchObject({ name: "ualink-revoke", profile: "ualink-rfc" });
  });

  it("runs ualink-revoke: the fenced fabric write lands, the revoke waits for it and the unmap", async () => {
    const r = await cli("scenario", ...LOAD, "ualink-revoke");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("# ualink-revoke under ualink-rfc");
    expect(r.stdout).toContain("map attach 1: ualink");
    expect(r.stdout).not.toContain("FAILS");
  });
});

describe("explore --load examples/ualink/plugin.ts", () => {
  it("every expectation of ualink-revoke.yaml holds in every interleaving", async () => {
    const r = await cli("explore", ...LOAD, here("ualink-revoke.yaml"), "--json");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as {
      profile: string;
      expectations: { holds: boolean }[];
    };
    expect(report.profile).toBe("ualink-rfc");
    expect(report.expectations.map((e) => e.holds)).toEqual([true, true, true, true, true, true]);
  });
});

describe("replay --load examples/ualink/plugin.ts", () => {
  it("a UALink port reaches a VFIO BAR through its IOAS, and HBM by a fabric address only with a grant", async () => {
    const r = await cli("replay", ...LOAD, here("ualink-replay.yaml"));
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("attach unic0 to IOAS 1: done");
    expect(r.stdout).toContain("dma unic0 read 0x100000000+0x8: ok at vfio0.bar0+0x0");
    expect(r.stdout).toContain("dma unic0 read 0x400000000000+0x8: violation at acc0.hbm+0x0");
    expect(r.stdout).toContain("# ualink-rfc: 1 violation(s), 0 fault(s)");
  });
});
