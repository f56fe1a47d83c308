// `pnpm bench:explore [--json] [--json-out=FILE] [--variant=flr|close] [--explorer=2,3] [--per-state=4:1000000] [--spin-max=8] [--spin-limit=120] [--pairs=3]`:
// the explorer against SPIN on the reference revoke protocol (issue 12's
// benchmark; BENCHMARKS.md, "Explorer vs SPIN"). Not a test: it asserts
// nothing about speed.
//
// - Explorer: bench/revoke-protocol-flr-N.yaml (bench/revoke-protocol.mjs
//   writes them), each run in a child process (bench/explore-child.mjs) under
//   /usr/bin/time for its peak RSS; N from --explorer (complete searches),
//   plus one bounded run (--per-state=N:MAX_STATES) for the time per state
//   from 10^4 to 10^6 states.
// - SPIN: bench/revoke.pml, `spin -DN=n -a`, `gcc -O2 -DSAFETY -DNOREDUCE`,
//   `./pan -E`, twice per N: with -DIDS (the explorer's state space: a
//   completed call's result, an attachment's or job's id, is state) and
//   without (ids abstracted away). N grows from 2 until a run takes over
//   --spin-limit seconds or runs out of memory. Skipped with a message
//   where spin or gcc is missing.
// - Pairs: at the largest N both search completely (SPIN with -DIDS), --pairs
//   more runs of each, explorer then SPIN in turn, so that the machine's
//   drift (up to 2x over minutes here) weighs on both sides of each ratio
//   alike; the ratio of each pair and their median.
import { spawnSync } from "node:child_process";
import {
  mkdtempSync,
  readFileSync,
  copyFileSync,
  rmSync,
  existsSync,
  writeFileSync,
} from "node:fs";
import { tmpdir, cpus, totalmem } from "node:os";
import { join } from "node:path";
import { revokeProtocolPath } from "../bench/revoke-protocol.mjs";

const args = process.argv.slice(2);
const json = args.includes("--json");
/** @param {string} name @param {string} dflt */
const opt = (name, dflt) =>
  args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const explorerNs = opt("explorer", "2,3").split(",").map(Number);
const [perStateN, perStateMax] = opt("per-state", "4:1000000").split(":").map(Number);
const spinMax = Number(opt("spin-max", "8"));
const spinLimit = Number(opt("spin-limit", "120"));
const pairCount = Number(opt("pairs", "3"));
/** pan's memory bound (-DMEMLIM, MiB): a run that would need more stops there. */
const MEMLIM_MB = 4096;
/** The exporter's move: `flr` (temporary revoke, reset, un-revoke) or `close` (permanent revoke). */
const variant = opt("variant", "flr") === "close" ? "close" : "flr";
/** @param {string} s */
const log = (s) => {
  if (!json) process.stdout.write(`${s}\n`);
};

const TIME = "/usr/bin/time";
const haveTime = existsSync(TIME);

/**
 * Runs a command, under /usr/bin/time when present, and returns its output,
 * exit status and peak RSS in bytes (null when unknown).
 *
 * @param {string} cmd
 * @param {string[]} argv
 * @param {{ cwd?: string, timeoutS?: number }} [o]
 */
function measured(cmd, argv, o = {}) {
  const dir = mkdtempSync(join(tmpdir(), "bench-explore-"));
  const out = join(dir, "time");
  const r = haveTime
    ? spawnSync(TIME, ["-o", out, "-f", "%M", cmd, ...argv], {
        cwd: o.cwd,
        encoding: "utf8",
        maxBuffer: 1 << 28,
        timeout: (o.timeoutS ?? 3600) * 1000,
      })
    : spawnSync(cmd, argv, {
        cwd: o.cwd,
        encoding: "utf8",
        maxBuffer: 1 << 28,
        timeout: (o.timeoutS ?? 3600) * 1000,
      });
  let rss = null;
  if (haveTime && existsSync(out)) {
    const kb = Number(readFileSync(out, "utf8").trim().split("\n").pop());
    if (Number.isFinite(kb)) rss = kb * 1024;
  }
  rmSync(dir, { recursive: true, force: true });
  return {
    stdout: r.stdout ?? "",
    stderr: r.stderr ?? "",
    status: r.status,
    signal: r.signal,
    rss,
  };
}

/** @param {number} n @param {number} [maxStates] */
function runExplorer(n, maxStates) {
  const argv = [
    "--conditions=@dmabuf-ref/source",
    "--import",
    "tsx",
    "bench/explore-child.mjs",
    revokeProtocolPath(n, variant),
    ...(maxStates === undefined ? [] : [String(maxStates)]),
  ];
  const r = measured(process.execPath, argv);
  if (r.status !== 0) throw new Error(`explorer N=${n} failed: ${r.stderr}`);
  const rep = JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}");
  return { n, ...rep, rss: r.rss ?? rep.maxRSS };
}

/** @param {string} cmd */
const has = (cmd) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;

/**
 * @param {string} dir - a directory holding revoke.pml.
 * @param {number} n
 * @param {boolean} ids
 */
function runSpin(dir, n, ids) {
  const defs = [`-DN=${n}`, ...(ids ? ["-DIDS"] : []), ...(variant === "close" ? ["-DCLOSE"] : [])];
  const a = spawnSync("spin", [...defs, "-a", "revoke.pml"], { cwd: dir, encoding: "utf8" });
  if (a.status !== 0) throw new Error(`spin -a failed: ${a.stdout}${a.stderr}`);
  const c = spawnSync(
    "gcc",
    ["-O2", "-DSAFETY", "-DNOREDUCE", `-DMEMLIM=${MEMLIM_MB}`, "-w", "-o", "pan", "pan.c"],
    { cwd: dir, encoding: "utf8" },
  );
  if (c.status !== 0) throw new Error(`gcc failed: ${c.stderr}`);
  const r = measured("./pan", ["-E", "-m1000000"], { cwd: dir, timeoutS: spinLimit * 2 });
  const o = r.stdout;
  /** @param {RegExp} re */
  const num = (re) => {
    const m = re.exec(o);
    return m === null ? null : Number(m[1]);
  };
  const oom = /out of memory|reached -DMEMLIM bound/.test(o);
  const done = r.status === 0 && /errors: 0/.test(o) && !oom;
  return {
    n,
    ids,
    complete: done,
    why: done
      ? undefined
      : r.signal !== null
        ? `killed after ${spinLimit * 2} s`
        : oom
          ? `out of memory (-DMEMLIM=${MEMLIM_MB})`
          : o.slice(0, 300),
    // pan prints big counts as 5.5e+07.
    states: num(/([\d.e+]+) states, stored/),
    transitions: num(/([\d.e+]+) transitions \(= stored\+matched\)/),
    seconds: num(/pan: elapsed time ([\d.e+-]+) seconds/),
    panMB: num(/([\d.]+)\s+total actual memory usage/),
    vector: num(/State-vector (\d+) byte/),
    rss: r.rss,
  };
}

/** @param {number | null | undefined} x @param {number} [d] */
const f = (x, d = 0) =>
  x === null || x === undefined || !Number.isFinite(x)
    ? "-"
    : x.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
/** @param {{ transitions: number | null, seconds: number | null }} r */
const tps = (r) =>
  r.transitions === null || r.seconds === null || r.seconds <= 0 ? null : r.transitions / r.seconds;

const machine = {
  nproc: cpus().length,
  cpu: cpus()[0]?.model ?? "unknown",
  memGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  date: new Date().toISOString(),
  loadBefore: readFileSync("/proc/loadavg", "utf8").trim(),
};
log(`# pnpm bench:explore  ${machine.date}  (exporter: ${variant})`);
log(`machine: nproc ${machine.nproc}, ${machine.cpu}, ${machine.memGiB} GiB, node ${machine.node}`);
log(`load average before: ${machine.loadBefore}`);

// SPIN first: it is quick, and it says how far N goes.
/** @type {ReturnType<typeof runSpin>[]} */
const spin = [];
let spinSkipped;
if (!has("spin") || !has("gcc")) {
  spinSkipped = "spin or gcc not installed (apt-get install spin gcc): SPIN side skipped";
  log(spinSkipped);
} else {
  const dir = mkdtempSync(join(tmpdir(), "bench-explore-spin-"));
  copyFileSync("bench/revoke.pml", join(dir, "revoke.pml"));
  for (const ids of [true, false]) {
    let prev = null;
    for (let n = 2; n <= spinMax; n++) {
      const r = runSpin(dir, n, ids);
      spin.push(r);
      if (!r.complete || r.states === null) break;
      // The next N grows the space about as much as this one did: skip it
      // when it would not fit in pan's memory bound or the time limit.
      const growth = prev?.states ? r.states / prev.states : 10;
      const bytes = r.states * growth * ((r.vector ?? 100) + 20);
      const secs = (r.seconds ?? 0) * growth;
      prev = r;
      if (n < spinMax && (bytes > MEMLIM_MB * 2 ** 20 || secs > spinLimit)) {
        log(
          `SPIN${ids ? " -DIDS" : ""}: N=${n + 1} skipped: about ${f(r.states * growth)} states, ${f(bytes / 2 ** 30, 1)} GiB, ${f(secs)} s predicted`,
        );
        break;
      }
    }
  }
  rmSync(dir, { recursive: true, force: true });
}

/** @type {ReturnType<typeof runExplorer>[]} */
const explorer = explorerNs.map((n) => runExplorer(n));
const perState =
  Number.isFinite(perStateN) && perStateMax > 0 ? runExplorer(perStateN, perStateMax) : undefined;

/** Alternating explorer / SPIN -DIDS runs at the largest N both complete. */
const pairN = [...explorer]
  .reverse()
  .find((e) => e.complete && spin.some((r) => r.n === e.n && r.ids && r.complete))?.n;
/** @type {{ explorerSeconds: number, spinSeconds: number, ratio: number | null }[]} */
const pairs = [];
if (pairN !== undefined && pairCount > 0) {
  const dir = mkdtempSync(join(tmpdir(), "bench-explore-pairs-"));
  copyFileSync("bench/revoke.pml", join(dir, "revoke.pml"));
  for (let i = 0; i < pairCount; i++) {
    const e = runExplorer(pairN);
    const p = runSpin(dir, pairN, true);
    const te = tps(e);
    const ts = tps(p);
    pairs.push({
      explorerSeconds: e.seconds,
      spinSeconds: p.seconds ?? NaN,
      ratio: te !== null && ts !== null ? te / ts : null,
    });
  }
  rmSync(dir, { recursive: true, force: true });
}
const loadAfter = readFileSync("/proc/loadavg", "utf8").trim();

log("");
log("## Explorer (dmabuf-ref explore's search, one child process per run)");
log(
  "| N | complete | states | transitions | s | transitions/s | search B/state | +heap peak B/state | RSS MiB | RSS B/state |",
);
log("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|");
for (const r of [...explorer, ...(perState === undefined ? [] : [perState])])
  log(
    `| ${r.n} | ${r.complete ? "yes" : "no (bound)"} | ${f(r.states)} | ${f(r.transitions)} | ${f(r.seconds, 1)} | ${f(tps(r))} | ${f(r.searchBytes / r.states, 1)} | ${f((r.searchBytes + r.heapPeakAboveLoad) / r.states)} | ${f(r.rss / 2 ** 20)} | ${f(r.rss / r.states)} |`,
  );

if (spin.length > 0) {
  log("");
  log("## SPIN (bench/revoke.pml; gcc -O2 -DSAFETY -DNOREDUCE; ./pan -E)");
  log(
    "| N | ids | complete | states | transitions | s | transitions/s | vector B | pan MiB | RSS MiB |",
  );
  log("|---|---|---|--:|--:|--:|--:|--:|--:|--:|");
  for (const r of spin)
    log(
      `| ${r.n} | ${r.ids ? "-DIDS" : "-"} | ${r.complete ? "yes" : `no: ${r.why ?? ""}`} | ${f(r.states)} | ${f(r.transitions)} | ${f(r.seconds, 2)} | ${f(tps(r))} | ${f(r.vector)} | ${f(r.panMB)} | ${f((r.rss ?? NaN) / 2 ** 20)} |`,
    );
}

/** @type {{ n: number, statesExplorerOverSpin: number | null, tpsExplorerOverSpin: number | null, tpsExplorerOverSpinPlain: number | null }[]} */
const ratios = [];
for (const e of explorer) {
  const s = spin.find((r) => r.n === e.n && r.ids && r.complete);
  const p = spin.find((r) => r.n === e.n && !r.ids && r.complete);
  const te = tps(e);
  const ts = s === undefined ? null : tps(s);
  const tp = p === undefined ? null : tps(p);
  ratios.push({
    n: e.n,
    statesExplorerOverSpin: s?.states ? e.states / s.states : null,
    tpsExplorerOverSpin: te !== null && ts !== null ? te / ts : null,
    tpsExplorerOverSpinPlain: te !== null && tp !== null ? te / tp : null,
  });
}
if (spin.length > 0) {
  log("");
  log("## Ratios (target: explorer transitions/s >= 0.1x SPIN's)");
  log(
    "| N | states explorer/SPIN -DIDS | transitions/s explorer/SPIN -DIDS | explorer/SPIN plain |",
  );
  log("|---|--:|--:|--:|");
  for (const r of ratios)
    log(
      `| ${r.n} | ${f(r.statesExplorerOverSpin, 3)} | ${f(r.tpsExplorerOverSpin, 4)}x | ${f(r.tpsExplorerOverSpinPlain, 4)}x |`,
    );
}

if (pairs.length > 0) {
  const rs = pairs.map((p) => p.ratio ?? NaN).sort((a, b) => a - b);
  log("");
  log(`## Paired runs at N=${pairN} (explorer, then SPIN -DIDS; target: >= 0.1x)`);
  log("| pair | explorer s | SPIN s | transitions/s explorer/SPIN |");
  log("|--:|--:|--:|--:|");
  pairs.forEach((p, i) =>
    log(`| ${i + 1} | ${f(p.explorerSeconds, 2)} | ${f(p.spinSeconds, 2)} | ${f(p.ratio, 4)}x |`),
  );
  log(`| median | | | ${f(rs[Math.floor((rs.length - 1) / 2)], 4)}x |`);
}

/** Microseconds per state between successive marks (10^4, 10^5, 10^6 states). */
const windows = [];
if (perState !== undefined) {
  /** @type {{ states: number, seconds: number }[]} */
  const m = [{ states: 0, seconds: 0 }, ...perState.marks];
  if (perState.states > (m[m.length - 1]?.states ?? 0))
    m.push({ states: perState.states, seconds: perState.seconds });
  for (let i = 1; i < m.length; i++) {
    const a = m[i - 1];
    const b = m[i];
    if (a === undefined || b === undefined) continue;
    windows.push({
      from: a.states,
      to: b.states,
      usPerState: ((b.seconds - a.seconds) * 1e6) / (b.states - a.states),
    });
  }
  log("");
  log(`## Time per state, explorer N=${perState.n} (target: flat, <= 1.5x, from 10^4 to 10^6)`);
  // The first window holds the JIT's warm-up; the target starts at 10^4 states.
  log("| states | µs per state | vs the window from 10^4 |");
  log("|---|--:|--:|");
  const first = windows.find((w) => w.from >= 1e4)?.usPerState ?? NaN;
  for (const w of windows)
    log(`| ${f(w.from)}–${f(w.to)} | ${f(w.usPerState, 1)} | ${f(w.usPerState / first, 2)}x |`);
}
log("");
log(`load average after: ${loadAfter}`);

const doc = `${JSON.stringify({ machine: { ...machine, loadAfter }, variant, explorer, perState, spin, spinSkipped, ratios, pairs, timePerState: windows }, null, 2)}\n`;
if (json) process.stdout.write(doc);
const jsonOut = opt("json-out", "");
if (jsonOut !== "") writeFileSync(jsonOut, doc);
