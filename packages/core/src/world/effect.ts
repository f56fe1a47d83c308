import type { TraceEvent } from "../trace/event.js";
import type { World } from "./world.js";

/**
 * A change to the world and the events that report it: what a callback or
 * an internal kernel helper returns when it cannot fail.
 *
 * @category Drivers
 */
export interface Effect {
  /** The world after the change. */
  readonly world: World;
  /** What happened, in order. */
  readonly events: readonly TraceEvent[];
}
