import { PROFILES, renderText, revokeWithDmaInFlight } from "@dmabuf-ref/core";
import { renderExamples } from "./examples.js";

/**
 * The main demo (`pnpm start`): the profiles in one line each, then every
 * worked negotiation of `rfc/examples` as an email-safe trace.
 *
 * @returns the output.
 */
export function demoOutput(): string {
  const profiles = PROFILES.map(
    (p) =>
      `  ${p.id.padEnd(21)} types [${p.mappingTypes.map((t) => t.id).join(", ")}]` +
      (p.converters.length === 0
        ? ""
        : ` converters [${p.converters.map((c) => c.id).join(", ")}]`),
  );
  const examples = renderExamples().map((ex) => ex.text);
  return [
    "dmabuf-ref: dma-buf mapping-type negotiation and revoke, executable",
    "",
    "Profiles (dmabuf-ref profiles for details):",
    ...profiles,
    "",
    "Worked negotiations (rfc/examples; dmabuf-ref negotiate --help):",
    "",
    examples.join("\n"),
    "The revoke protocol with DMA in flight (reference exporter and importer):",
    "",
    renderText(revokeWithDmaInFlight().events),
  ].join("\n");
}
