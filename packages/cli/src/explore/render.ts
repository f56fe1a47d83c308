/*
 * How an exploration reads in an email, an RFC document or a script: one
 * verdict line per expectation, and for each witness its numbered steps
 * (the thread or `kernel` as actor), at most 72 columns; the same as a
 * Markdown table or a Mermaid sequence diagram; or JSON.
 */
import { EMAIL_WIDTH, describeEvent, nameBuffers, renderMermaid, wrapLine } from "@dmabuf-ref/core";
import type { BufferNames } from "@dmabuf-ref/core";
import { toJson } from "../io/json.js";
import type { ExploreReport, ExpectationVerdict, WitnessStep } from "./explore.js";

/** The output formats of `dmabuf-ref explore`. */
export type ExploreFormat = "text" | "markdown" | "mermaid" | "json";

function verdictWord(e: ExpectationVerdict): string {
  if (e.holds === null) return "UNKNOWN (bound reached)";
  return e.holds ? "holds" : "FAILS";
}

/** The file's names of the witness's dma-bufs, by the model's id. */
function namesOf(e: ExpectationVerdict): BufferNames {
  return new Map(Object.entries(e.bufferNames ?? {}).map(([id, n]) => [Number(id), n]));
}

function witnessTitle(e: ExpectationVerdict): string {
  return e.kind === "forall" ? "counterexample" : "example";
}

/** A witness step in one line: `3. vmm: flr vfio0 -> started`. */
function stepLine(s: WitnessStep, i: number): string {
  const returns = s.returned
    .filter((r) => !(r.thread === s.thread && s.outcome !== "started"))
    .map((r) => `; ${r.thread}[${r.call}] returns ${r.outcome}`)
    .join("");
  const call = s.outcome === "started" ? s.call.replace(/: done$/, "") : s.call;
  return `${i + 1}. ${s.thread}: ${call} -> ${s.outcome}${returns}`;
}

/** The events of a step, one indented line each. */
function eventLines(s: WitnessStep, names: BufferNames): string[] {
  return s.events.flatMap((e) => {
    const d = describeEvent(e);
    const who = d.to === undefined ? d.from : `${d.from} -> ${d.to}`;
    return wrapLine(nameBuffers(`     ${who}: ${d.text}`, names), EMAIL_WIDTH, 7);
  });
}

function summary(r: ExploreReport): string {
  const bound = r.complete ? "complete" : "INCOMPLETE: a bound stopped the search";
  const reductions = r.reductions.length === 0 ? "no reduction" : r.reductions.join(", ");
  return (
    `${r.states} states, ${r.transitions} transitions, depth ${r.depth}, ` +
    `${r.terminals} terminal; ${bound}; ${reductions}`
  );
}

/**
 * The report as email-safe text.
 *
 * @param r - the report.
 * @param verbose - also print each step's trace events.
 * @returns the text (every line at most 72 columns).
 */
export function exploreText(r: ExploreReport, verbose = true): string {
  const out: string[] = [];
  const line = (s: string, indent = 2): void => {
    out.push(...wrapLine(s, EMAIL_WIDTH, indent));
  };
  line(`# ${r.scenario} under ${r.profile}`);
  line(`# ${summary(r)}`);
  for (const f of r.initFailures) line(`# note: set-up call failed, ${f}`);
  r.expectations.forEach((e, i) => {
    line(`${e.kind} ${e.expr}: ${verdictWord(e)}`);
    if (e.witness === undefined) return;
    line(`  ${witnessTitle(e)} for expect[${i}], ${e.witness.length} steps:`, 4);
    const names = namesOf(e);
    e.witness.forEach((s, j) => {
      line(nameBuffers(`  ${stepLine(s, j)}`, names), 6);
      if (verbose) out.push(...eventLines(s, names));
    });
    for (const x of e.stuck ?? [])
      line(nameBuffers(`  stuck: ${x.thread}[${x.call}] ${x.why}`, names), 6);
  });
  return out.join("\n") + "\n";
}

const cell = (s: string): string => s.replace(/\|/g, "\\|");

/**
 * The report as Markdown: a verdict table, then each witness as a table.
 *
 * @param r - the report.
 * @returns the Markdown.
 */
export function exploreMarkdown(r: ExploreReport): string {
  const out: string[] = [
    `### ${r.scenario} under ${r.profile}`,
    "",
    summary(r),
    "",
    ...r.initFailures.map((f) => `Note: set-up call failed, ${f}.\n`),
    "| # | kind | condition | verdict |",
    "|---|------|-----------|---------|",
    ...r.expectations.map(
      (e, i) => `| ${i} | ${e.kind} | \`${cell(e.expr)}\` | ${verdictWord(e)} |`,
    ),
  ];
  r.expectations.forEach((e, i) => {
    if (e.witness === undefined) return;
    out.push(
      "",
      `#### ${witnessTitle(e)} for expect[${i}] (\`${cell(e.expr)}\`)`,
      "",
      "| step | actor | call | outcome |",
      "|------|-------|------|---------|",
      ...e.witness.map(
        (s, j) =>
          `| ${j + 1} | ${s.thread} | ${cell(nameBuffers(s.call, namesOf(e)))} | ${cell(s.outcome)} |`,
      ),
    );
  });
  return out.join("\n") + "\n";
}

/**
 * Each witness as a Mermaid sequence diagram of its events.
 *
 * @param r - the report.
 * @returns the diagrams, each headed by a `%%` comment naming the expectation.
 */
export function exploreMermaid(r: ExploreReport): string {
  const parts = r.expectations.flatMap((e, i) =>
    e.witness === undefined
      ? []
      : [
          `%% ${r.scenario}: ${witnessTitle(e)} for expect[${i}]: ${e.kind} ${e.expr}\n` +
            renderMermaid(
              e.witness.flatMap((s) => s.events),
              namesOf(e),
            ),
        ],
  );
  return parts.length === 0 ? `%% ${r.scenario}: no witness to draw\n` : parts.join("\n");
}

/**
 * The report in a format.
 *
 * @param r - the report.
 * @param format - text, markdown, mermaid or json.
 * @returns the output.
 */
export function renderExplore(r: ExploreReport, format: ExploreFormat): string {
  switch (format) {
    case "json":
      return toJson(r);
    case "markdown":
      return exploreMarkdown(r);
    case "mermaid":
      return exploreMermaid(r);
    case "text":
      return exploreText(r);
    default: {
      const unknown: never = format;
      throw new Error(`unknown format ${String(unknown)}`);
    }
  }
}
