// One explorer run for `pnpm bench:explore` (scripts/bench-explore.mjs), in a
// process of its own so its peak RSS is its own:
//   node --conditions=@dmabuf-ref/source --import tsx bench/explore-child.mjs FILE [MAX_STATES]
// It loads the scenario as `dmabuf-ref explore` does (loadScenario) and runs
// the same breadth-first search on the same space, but calls breadthFirst
// itself so it can report the search's own `bytes` (visited set and parent
// links), sample the heap for the frontier, and time the 10^k-state marks.
// Prints one JSON object on stdout.
import { readScenarioFile, loadScenario } from "../packages/cli/src/explore/explore.ts";
import { breadthFirst } from "../packages/core/src/explore/breadth-first.ts";

const [file, max] = process.argv.slice(2);
if (file === undefined) {
  console.error("usage: explore-child.mjs FILE [MAX_STATES]");
  process.exit(2);
}
const maxStates = max === undefined ? undefined : Number(max);

const loaded = loadScenario(readScenarioFile(file), { path: file });
const space = loaded.space;
const heap0 = process.memoryUsage().heapUsed;
let heapPeak = heap0;
/** @type {{ states: number, seconds: number }[]} */
const marks = [];
let nextMark = 1e4;
let violating = 0;
const stats = breadthFirst(
  space,
  (s, _id, terminal) => {
    if (terminal && s.world.violations.size > 0) violating++;
  },
  {
    ...(maxStates === undefined ? {} : { maxStates }),
    // Every 4096 expansions: the heap's high-water mark (frontier, garbage
    // not yet collected) and the first time each power of ten is passed.
    progress: (p) => {
      const h = process.memoryUsage().heapUsed;
      if (h > heapPeak) heapPeak = h;
      while (p.states >= nextMark) {
        marks.push({ states: p.states, seconds: p.seconds });
        nextMark *= 10;
      }
    },
  },
);
process.stdout.write(
  `${JSON.stringify({
    scenario: loaded.file.name,
    profile: loaded.profile.id,
    complete: stats.complete,
    states: stats.states,
    transitions: stats.transitions,
    depth: stats.depth,
    terminals: stats.terminals,
    violating,
    seconds: stats.seconds,
    searchBytes: stats.bytes,
    heapPeakAboveLoad: heapPeak - heap0,
    marks,
    maxRSS: process.resourceUsage().maxRSS * 1024,
  })}\n`,
);
