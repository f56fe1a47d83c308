import { negotiateAttach } from "@dmabuf-ref/core";
import type { Machine, World } from "@dmabuf-ref/core";
import type { Refused } from "./recipes.js";

/**
 * Negotiates the importer's accepts against the buffer's offers the way
 * the importer's attach will (dynamic, the driver's `allow_peer2peer`), so
 * the matrix can tell a failed negotiation (`dma_buf_mapping_attach()`'s
 * `-EINVAL`, DESIGN §3.2) apart from the exporter's `attach` refusing: the
 * importer's own entry point reports both as a failed attach.
 *
 * @param m - the machine.
 * @param w - the world with the buffer.
 * @param buf - the dma-buf.
 * @param importer - the importer driver's name.
 * @param device - the importing DMA device, or null (KVM).
 * @returns the refusal at stage "negotiation", or undefined when a pair matched.
 */
export function negotiationRefusal(
  m: Machine,
  w: World,
  buf: number,
  importer: string,
  device: string | null,
): Refused | undefined {
  const imp = m.importers.get(importer);
  if (imp === undefined) throw new Error(`no importer driver ${importer}`);
  const neg = negotiateAttach(m, w, buf, imp, {
    device,
    dynamic: true,
    peer2peer: imp.allowPeer2peer,
  });
  if (neg.ok) return undefined;
  return { ok: false, errno: neg.error.errno, reason: neg.error.message, stage: "negotiation" };
}
