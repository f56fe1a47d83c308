/*
 * The explorer's memo of model steps by world (DESIGN §2a: a world is a
 * value). An interleaving search reaches the same world again and again
 * with the threads in other places: the reference revoke protocol with
 * three importers has 768,984 states but only 29,491 distinct worlds, and
 * its 1,413,759 transitions step only 98,021 distinct (world, op) pairs.
 * `step` is a function of the machine, the world and the op, so the space
 * works out each pair once and hands the same result, and the same
 * successor world object, to every state that meets it again. Sharing the
 * world objects also means a new state holds only its threads' part.
 */
import { hashWorld, hashWorld2, worldsEqual } from "@dmabuf-ref/core";
import type { World } from "@dmabuf-ref/core";

/**
 * What the explorer has worked out from one world: its continuations and
 * the steps of the calls tried there. `K` is what the kernel's
 * continuations are kept as, `C` the key of a call and `S` its step.
 */
export interface WorldMemo<K, C, S> {
  /** The world: the first of its equals the memo met, which later equal worlds are replaced by. */
  readonly world: World;
  /** `hashWorld` of the world. */
  readonly h1: number;
  /** `hashWorld2` of the world. */
  readonly h2: number;
  /** The kernel's continuations from this world, once listed. */
  kernel: K | undefined;
  /** The steps of the calls tried from this world, by call. */
  readonly calls: Map<C, S>;
}

interface Slot<K, C, S> extends WorldMemo<K, C, S> {
  /** Another world whose first lane (the map's key) is the same. */
  next: Slot<K, C, S> | undefined;
  /** Met again from the old generation: the young one has a slot with the same calls. */
  moved: boolean;
}

/**
 * Worlds by value, with what was worked out from each. Two generations of
 * at most `capacity` worlds each: once the young one fills it becomes the
 * old one and the previous old one is dropped, so a long search keeps the
 * worlds it met recently (a world met again moves back to the young
 * generation) and memory stays bounded. Forgetting a world costs only the
 * work of stepping it again. A dropped world's memo is emptied too: what
 * it kept names the memos of the worlds after it, and states still
 * holding it would otherwise keep every world ever stepped from it.
 *
 * A world is found by its two 32-bit hash lanes and confirmed with
 * `worldsEqual`, so a hash collision never hands one world's successors to
 * another.
 */
export class StepMemo<K, C, S> {
  #young = new Map<number, Slot<K, C, S>>();
  #old = new Map<number, Slot<K, C, S>>();
  #size = 0;

  /**
   * @param capacity - worlds per generation.
   */
  constructor(private readonly capacity: number) {}

  /**
   * The memo of a world: the one of an equal world met before, or a new
   * one with this world as the representative.
   *
   * @param w - a world.
   */
  of(w: World): WorldMemo<K, C, S> {
    const h1 = hashWorld(w);
    const h2 = hashWorld2(w);
    const young = StepMemo.find(this.#young.get(h1), w, h2);
    if (young !== undefined) return young;
    const old = StepMemo.find(this.#old.get(h1), w, h2);
    const next = this.#young.get(h1);
    let slot: Slot<K, C, S>;
    if (old === undefined) {
      slot = { world: w, h1, h2, kernel: undefined, calls: new Map(), next, moved: false };
    } else {
      old.moved = true;
      slot = { world: old.world, h1, h2, kernel: old.kernel, calls: old.calls, next, moved: false };
    }
    this.#young.set(h1, slot);
    if (++this.#size >= this.capacity) {
      const dropped = this.#old;
      this.#old = this.#young;
      this.#young = new Map();
      this.#size = 0;
      for (const first of dropped.values()) {
        for (let s: Slot<K, C, S> | undefined = first; s !== undefined; s = s.next) {
          if (s.moved) continue;
          s.kernel = undefined;
          s.calls.clear();
        }
      }
    }
    return slot;
  }

  /**
   * The representative of a world: the world itself the first time, an
   * equal world met before after that.
   *
   * @param w - a world.
   */
  canonical(w: World): World {
    return this.of(w).world;
  }

  private static find<K, C, S>(
    first: Slot<K, C, S> | undefined,
    w: World,
    h2: number,
  ): Slot<K, C, S> | undefined {
    for (let s = first; s !== undefined; s = s.next) {
      if (s.h2 === h2 && (s.world === w || worldsEqual(s.world, w))) return s;
    }
    return undefined;
  }
}
