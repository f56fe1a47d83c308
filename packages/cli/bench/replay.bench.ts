/**
 * Replay benchmark (`pnpm bench`; not a test). Issue 10: replaying a real
 * VMM's ioctl sequence must cost linear time in its length. Two workloads,
 * each replayed at several lengths on the standard machine (linux-7.1):
 *
 * - `ioas-alloc`: N `IOMMU_IOAS_ALLOC` calls (N objects live at the end);
 * - `map-unmap`: one VFIO dma-buf and one IOAS, then N/2 pairs of
 *   `IOMMU_IOAS_MAP_FILE` and `IOMMU_IOAS_UNMAP` of it.
 *
 * It reports seconds and microseconds per call at each length, and the
 * growth of the per-call cost from the shortest to the longest run (1.0 is
 * linear). A length whose shorter neighbour took over LIMIT_S is skipped
 * and says so.
 *
 * Run: `pnpm bench` (both benchmarks) or
 * `node --conditions=@dmabuf-ref/source --import tsx packages/cli/bench/replay.bench.ts [--json] [--lengths=N,M]`.
 */
import { boot, linux71 } from "@dmabuf-ref/core";
import { replay } from "../src/replay/run.js";
import { replayFileSchema } from "../src/replay/schema.js";
import { standardMachine } from "../src/scenarios/machine.js";
import { REPLAY_WORKLOADS, workloadCalls } from "./replay-workloads.js";
import type { Workload } from "./replay-workloads.js";

/** Lengths replayed, in calls (`--lengths=1000,2000` overrides). */
const LENGTHS: readonly number[] = process.argv
  .find((a) => a.startsWith("--lengths="))
  ?.slice("--lengths=".length)
  .split(",")
  .map(Number) ?? [10_000, 20_000, 100_000];
/** Skip a longer run once a shorter one took longer than this. */
const LIMIT_S = 40;

interface Row {
  readonly workload: Workload;
  readonly calls: number;
  readonly seconds: number | null;
  readonly usPerCall: number | null;
  readonly failed: number;
}

function run(workload: Workload, n: number): Row {
  const file = replayFileSchema.parse({ profile: "linux-7.1", calls: workloadCalls(workload, n) });
  const m = standardMachine(linux71);
  const t0 = process.hrtime.bigint();
  const r = replay(m, boot(m), file);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const failed = r.results.filter((x) => !x.ok).length;
  return { workload, calls: file.calls.length, seconds, usPerCall: (seconds * 1e6) / n, failed };
}

const rows: Row[] = [];
for (const workload of REPLAY_WORKLOADS) {
  let skip = false;
  for (const n of LENGTHS) {
    if (skip) {
      rows.push({ workload, calls: n, seconds: null, usPerCall: null, failed: 0 });
      continue;
    }
    const row = run(workload, n);
    rows.push(row);
    if ((row.seconds ?? 0) > LIMIT_S) skip = true;
  }
}

if (process.argv.includes("--json")) {
  process.stdout.write(`${JSON.stringify({ replay: rows }, null, 2)}\n`);
} else {
  process.stdout.write("replay: seconds and us per call by length (linear = flat us/call)\n");
  for (const r of rows) {
    const t =
      r.seconds === null
        ? `skipped (a shorter run took over ${LIMIT_S} s)`
        : `${r.seconds.toFixed(2)} s, ${(r.usPerCall ?? 0).toFixed(1)} us/call, ${r.failed} errno(s)`;
    process.stdout.write(`  ${r.workload.padEnd(10)} ${String(r.calls).padStart(7)} calls: ${t}\n`);
  }
  for (const workload of REPLAY_WORKLOADS) {
    const done = rows.filter((r) => r.workload === workload && r.usPerCall !== null);
    const first = done[0];
    const last = done.at(-1);
    if (first !== undefined && last !== undefined && first !== last) {
      const growth = (last.usPerCall ?? 0) / (first.usPerCall ?? 1);
      process.stdout.write(
        `  ${workload}: us/call grows ${growth.toFixed(2)}x from ${first.calls} to ${last.calls} calls\n`,
      );
    }
  }
}
