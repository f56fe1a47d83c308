import { readFileSync } from "node:fs";
import type { DocumentResult } from "@dmabuf-ref/core";
import { parse as parseYaml } from "yaml";
import { UsageError } from "./usage-error.js";

/**
 * Reads a YAML or JSON file (JSON is YAML) and validates it.
 *
 * @param file - the path given on the command line.
 * @param validate - the document's zod-backed parser.
 * @returns the validated value.
 * @throws {@link UsageError} naming the file and each bad field.
 */
export function loadDocument<T>(file: string, validate: (raw: unknown) => DocumentResult<T>): T {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new UsageError(`${file}: cannot read: ${e instanceof Error ? e.message : String(e)}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text, { intAsBigInt: false });
  } catch (e) {
    throw new UsageError(
      `${file}: not YAML or JSON: ${e instanceof Error ? e.message : String(e)}`,
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
