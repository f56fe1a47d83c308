import { readFileSync } from "node:fs";
import type { DocumentResult } from "@dmabuf-ref/core";
import { parse as parseYaml } from "yaml";
import type * as z from "zod";
import { UsageError } from "./usage-error.js";
import { fieldNames, withSuggestions } from "./did-you-mean.js";

/**
 * Reads a YAML file, or a JSON file (`.json`, read with JSON.parse), and
 * validates it.
 *
 * @param file - the path given on the command line.
 * @param validate - the document's zod-backed parser.
 * @returns the validated value.
 * @throws {@link UsageError} naming the file and each bad field.
 */
export function loadDocument<T>(file: string, validate: (raw: unknown) => DocumentResult<T>): T {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new UsageError(`${file}: cannot read: ${e instanceof Error ? e.message : String(e)}`);
  }
  let text: string;
  try {
    // Strict: invalid UTF-8 is an error, never silently replaced by U+FFFD
    // (a name that differs from what the user typed would be looked up).
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new UsageError(`${file}: not UTF-8 text`);
  }
  let raw: unknown;
  // A .json file is read as JSON: JSON.parse reads tens of megabytes in
  // well under a second where the YAML parser (JSON is YAML) would take
  // gigabytes; YAML keeps its alias and depth limits.
  const json = file.toLowerCase().endsWith(".json");
  try {
    raw = json ? JSON.parse(text) : parseYaml(text, { intAsBigInt: false });
  } catch (e) {
    throw new UsageError(
      `${file}: not ${json ? "JSON" : "YAML or JSON"}: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  const result = validate(raw);
  if (!result.ok) {
    const lines = result.issues.map(
      (i) => `${file}: ${i.path === "" ? "(document)" : i.path}: ${i.message}`,
    );
    throw new UsageError(lines.join("\n"));
  }
  return result.value;
}

/**
 * A document parser from a zod schema: its issues become the file's
 * field paths (`threads.vmm[0].iova`) and messages.
 *
 * An unknown key gets a did-you-mean from the names `schema` (and
 * `alsoKnown`: schemas it reaches only through a transform) declares.
 *
 * @param schema - the document's schema.
 * @param alsoKnown - schemas whose field names count as known too.
 * @returns the parser {@link loadDocument} takes.
 */
export function validateWith<T>(
  schema: z.ZodType<T>,
  alsoKnown: readonly z.ZodType[] = [],
): (raw: unknown) => DocumentResult<T> {
  let known: Set<string> | undefined;
  return (raw) => {
    const r = schema.safeParse(raw);
    return r.success
      ? { ok: true, value: r.data }
      : {
          ok: false,
          issues: r.error.issues
            .flatMap((i) => explainUnion(i, []))
            .map((i) => ({
              path: i.path
                .map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`))
                .join("")
                .replace(/^\./, ""),
              message: withSuggestions(i.message, (known ??= fieldNames([schema, ...alsoKnown]))),
            })),
        };
  };
}

/**
 * The keys that say which kind of entry a document's entry is: a call's
 * `ioctl`, `event`, `syscall` or `op`; an offer's or accept's `type`.
 */
const TAG_KEYS: ReadonlySet<string> = new Set(["ioctl", "event", "syscall", "op", "type"]);

/** A zod issue with the path from the document's root. */
interface RootedIssue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/**
 * The issues of the alternative the input meant, for an input no
 * alternative of a union accepts (a call: ioctl, event or syscall; an
 * event: flr, close, ...). zod reports only "Invalid input" there; the
 * user needs the field their call lacks. An alternative whose top-level
 * literal or tag differs from the input's (`event: close` against the
 * `flr` alternative, a missing `syscall:`; see TAG_KEYS) is not the one
 * meant; of the rest,
 * the one with the fewest problems is. When every alternative is ruled
 * out, the union's own message stands.
 *
 * @param issue - a zod issue.
 * @param base - the path of the value it was found in.
 * @returns the issues to report, with root paths.
 */
function explainUnion(issue: z.core.$ZodIssue, base: readonly PropertyKey[]): RootedIssue[] {
  const path = [...base, ...issue.path];
  if (issue.code !== "invalid_union" || issue.errors.length === 0) {
    return [{ path, message: issue.message }];
  }
  const alternatives = issue.errors
    .map((branch) => branch.flatMap((i) => explainUnion(i, path)))
    .filter(
      (_branch, k) =>
        !(issue.errors[k] ?? []).some(
          (i) =>
            i.path.length === 1 &&
            // a literal that differs, a discriminated union's tag that
            // matches none of its alternatives, or a tag key that is wrong
            // or missing (an ioctl call without `ioctl:`)
            (i.code === "invalid_value" ||
              (i.code === "invalid_union" && i.errors.length === 0) ||
              TAG_KEYS.has(String(i.path[0]))),
        ),
    );
  const best = alternatives.reduce<RootedIssue[] | undefined>(
    (a, b) => (a === undefined || b.length < a.length ? b : a),
    undefined,
  );
  return best ?? [{ path, message: issue.message }];
}
