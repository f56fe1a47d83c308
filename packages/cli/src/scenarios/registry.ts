import type { Scenario } from "./scenario.js";

/** Every scenario `dmabuf-ref scenario` knows, in listing order. */
export const SCENARIOS: readonly Scenario[] = [];
