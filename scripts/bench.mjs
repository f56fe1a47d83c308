// `pnpm bench [--json]`: runs every benchmark in turn with the same arguments
// (benchmarks measure; tests never time anything).
import { spawnSync } from "node:child_process";

const benches = ["packages/core/bench/world.bench.ts", "packages/cli/bench/replay.bench.ts"];
const args = process.argv.slice(2);
for (const bench of benches) {
  const r = spawnSync(
    process.execPath,
    ["--conditions=@dmabuf-ref/source", "--import", "tsx", bench, ...args],
    { stdio: "inherit" },
  );
  if (r.status !== 0) process.exit(r.status ?? 1);
}
