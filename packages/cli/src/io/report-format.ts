/*
 * The formats of a command that prints a table or a report: text (72
 * columns, for email), a Markdown table (for an RFC document) or JSON;
 * `--json` stays the short form of `--format json`.
 */
import { Option } from "commander";
import { UsageError } from "./usage-error.js";

/** What `--format` takes on a table or report command. */
export type ReportFormat = "text" | "markdown" | "json";

const FORMATS: readonly ReportFormat[] = ["text", "markdown", "json"];

/**
 * The `--format` option of a table or report command.
 *
 * @returns the option (default text).
 */
export function reportFormatOption(): Option {
  return new Option("--format <format>", "output format (default text)").choices([...FORMATS]);
}

/**
 * The format a command prints in: `--json` is `--format json`; the two
 * saying different things is a usage error.
 *
 * @param command - the command, for the error.
 * @param opts - the parsed `--format` and `--json`.
 * @returns the format.
 */
export function reportFormat(
  command: string,
  opts: { readonly format?: string; readonly json?: boolean },
): ReportFormat {
  if (opts.json === true && opts.format !== undefined && opts.format !== "json")
    throw new UsageError(`${command}: --json and --format ${opts.format} contradict`);
  const f = opts.json === true ? "json" : (opts.format ?? "text");
  const found = FORMATS.find((x) => x === f);
  if (found === undefined) throw new UsageError(`${command}: --format takes ${FORMATS.join(", ")}`);
  return found;
}

/**
 * A Markdown table (GitHub flavour): a header row, the alignment row, one
 * row per entry; `|` and line breaks in a cell escaped.
 *
 * @param headers - the column titles.
 * @param rows - the cells, row by row.
 * @returns the table, ending with a newline.
 */
export function markdownTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const cell = (s: string): string => s.replace(/\|/g, "\\|").replace(/\n/g, " ");
  const line = (cells: readonly string[]): string => `| ${cells.map(cell).join(" | ")} |`;
  return (
    [line(headers), `|${headers.map(() => " --- ").join("|")}|`, ...rows.map(line)].join("\n") +
    "\n"
  );
}
