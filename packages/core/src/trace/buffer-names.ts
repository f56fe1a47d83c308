/*
 * Answers name things the way the user named them (issue 14): the model
 * numbers dma-bufs (a dma-buf's id is the fd `dma_buf_fd()` returned),
 * while a replay or scenario file names the buffer it exported with
 * `as: buf0`. The renderers take the names, so a trace says
 * `vfio0 -> buf0: dma_resv_lock`, not `buf 1`.
 */

/**
 * The user's name of each dma-buf a file bound with `as`, by the model's
 * id (the fd `dma_buf_fd()` returned).
 *
 * @category Tracing
 */
export type BufferNames = ReadonlyMap<number, string>;

/**
 * No names: every dma-buf is called by the model's id.
 *
 * @category Tracing
 */
export const NO_NAMES: BufferNames = new Map();

// `buf 1`, `buf=1`, `dma-buf 1`: the forms the model's traces and
// messages use for a dma-buf's id (never for anything else).
const BUFFER_ID = /\b(dma-buf|buf)( |=)(\d+)\b/g;

/**
 * A line with each dma-buf the user named called by that name.
 *
 * @param text - a trace line or message of the model.
 * @param names - the user's names.
 * @returns the line, `buf 1` written `buf0` (`buf=1` as `buf=buf0`,
 *   `dma-buf 1` as `dma-buf buf0`) where the file bound `buf0` to it.
 * @category Tracing
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nameBuffers } from "@dmabuf-ref/core";
 *
 * const names = new Map([[1, "buf0"]]);
 * assert.equal(nameBuffers("vfio0: buf 1 revoked = temporary", names), "vfio0: buf0 revoked = temporary");
 * assert.equal(nameBuffers("map buf=1 att=2", names), "map buf=buf0 att=2");
 * assert.equal(nameBuffers("release buf 2", names), "release buf 2");
 * ```
 */
export function nameBuffers(text: string, names: BufferNames): string {
  if (names.size === 0) return text;
  return text.replace(BUFFER_ID, (all, word: string, sep: string, id: string) => {
    const name = names.get(Number(id));
    if (name === undefined) return all;
    if (sep === "=") return `${word}=${name}`;
    return word === "buf" ? name : `${word} ${name}`;
  });
}
