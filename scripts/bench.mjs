// `pnpm bench [--json] [--sizes=...] [--lengths=...]`: runs every benchmark
// in turn with the same arguments (benchmarks measure; tests never time
// anything). With --json, the benchmarks' documents merge into one.
import { spawnSync } from "node:child_process";

const benches = ["packages/core/bench/world.bench.ts", "packages/cli/bench/replay.bench.ts"];
const args = process.argv.slice(2);
const json = args.includes("--json");
const merged = {};
for (const bench of benches) {
  const r = spawnSync(
    process.execPath,
    ["--conditions=@dmabuf-ref/source", "--import", "tsx", bench, ...args],
    { stdio: json ? ["inherit", "pipe", "inherit"] : "inherit", encoding: "utf8" },
  );
  if (r.status !== 0) process.exit(r.status ?? 1);
  if (json) Object.assign(merged, JSON.parse(r.stdout));
}
if (json) process.stdout.write(`${JSON.stringify(merged, null, 2)}\n`);
