import { EMAIL_WIDTH, wrapLine } from "@dmabuf-ref/core";
import type { ImportCapability } from "./capability.js";

/**
 * The first line of every rendering: the query does not exist in any kernel.
 *
 * @category uAPI
 */
export const CAPABILITY_PROPOSAL_BANNER =
  "PROPOSAL, not a kernel uAPI: iommufd dma-buf import capability";

/**
 * Renders capability answers as email-safe text (<= 72 columns): a banner
 * saying this is a proposal, the profile, then one entry per source.
 *
 * @param caps - answers of {@link iommufdImportCapability}, one per source.
 * @param width - the column limit (default 72).
 * @returns the text, ending with a newline.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boot, referenceMachine, step } from "@dmabuf-ref/core";
 * import {
 *   CAPABILITY_PROPOSAL_BANNER, iommufdImportCapabilities, iommufdImporter,
 *   renderImportCapabilities,
 * } from "@dmabuf-ref/importers";
 *
 * const m = referenceMachine({ importers: [iommufdImporter()] });
 * const args = { size: 0x4000n };
 * const e = step(m, boot(m), { kind: "export", exporter: "ref-exporter", owner: "gpu", args });
 * const lines = renderImportCapabilities(iommufdImportCapabilities(m, e.world)).split("\n");
 * assert.equal(lines[0], CAPABILITY_PROPOSAL_BANNER);
 * assert.equal(lines[1], "profile linux-7.1");
 * assert.match(lines[2] ?? "", /^ {2}buf 1 \(gpu\): NOT importable at private-phys: /);
 * assert.ok(lines.every((l) => l.length <= 72));
 * ```
 * @category uAPI
 */
export function renderImportCapabilities(
  caps: readonly ImportCapability[],
  width = EMAIL_WIDTH,
): string {
  const profiles = [...new Set(caps.map((c) => c.profile))];
  const lines = [
    ...wrapLine(CAPABILITY_PROPOSAL_BANNER, width, 2),
    ...wrapLine(`profile ${profiles.join(", ") || "(no sources)"}`, width, 2),
  ];
  for (const c of caps) {
    const who = `buf ${c.buf}${c.owner === undefined ? "" : ` (${c.owner})`}`;
    const what = c.importable ? c.reason : `NOT importable at ${c.stage}: ${c.reason}`;
    lines.push(...wrapLine(`  ${who}: ${what}`, width, 6));
  }
  return lines.join("\n") + "\n";
}
