import type { TraceEvent } from "./event.js";

/**
 * Collects {@link TraceEvent}s in order. The model's steps return their
 * events as values; a recorder is only the accumulator a scenario or a CLI
 * command keeps while it runs them.
 *
 * @category Tracing
 */
export class TraceRecorder {
  readonly #events: TraceEvent[] = [];

  /**
   * Appends events in order.
   *
   * @param events - the events a step produced.
   */
  record(...events: readonly TraceEvent[]): void {
    this.#events.push(...events);
  }

  /** The events so far, oldest first (a copy; the recorder keeps its own). */
  get events(): readonly TraceEvent[] {
    return [...this.#events];
  }
}
