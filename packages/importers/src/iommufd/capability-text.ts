import { EMAIL_WIDTH, wrapLine } from "@dmabuf-ref/core";
import type { ImportCapability } from "./capability.js";

/** The first line of every rendering: the query does not exist in any kernel. */
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
 * ```text
 * PROPOSAL, not a kernel uAPI: iommufd dma-buf import capability
 * profile linux-7.1
 *   buf 7 (vfio0): importable via vfio-iommufd-private
 *   buf 10 (exp0): NOT importable at private-phys: the private
 *       VFIO->iommufd interconnect (vfio_pci_dma_buf_iommufd_map) refuses:
 *       EOPNOTSUPP: buf 10 is not a VFIO dma-buf
 * ```
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
