/*
 * The conditions of a scenario's `expect:` (rfc/scenarios/README.md): what
 * must hold in every terminal state of every interleaving (`forall`) or in
 * at least one (`exists`).
 *
 *   cond  := or
 *   or    := and ("or" and)*
 *   and   := unary ("and" unary)*
 *   unary := "not" unary | "(" or ")" | atom
 *   atom  := "no-violation" | "no-deadlock" | THREAD "[" N "]" ("==" | "!=") VALUE
 *
 * VALUE is `ok`, `blocked`, `fault`, `violation` (a DMA's verdicts) or an
 * errno name (`ENODEV`).
 */
import { ERRNO_NAMES } from "@dmabuf-ref/core";

/** A parsed condition. */
export type Condition =
  | { readonly kind: "no-violation" }
  | { readonly kind: "no-deadlock" }
  | {
      readonly kind: "outcome";
      readonly thread: string;
      readonly call: number;
      readonly value: string;
      readonly negated: boolean;
    }
  | { readonly kind: "not"; readonly of: Condition }
  | { readonly kind: "and" | "or"; readonly left: Condition; readonly right: Condition };

/** What a condition is judged on: one terminal state of an exploration. */
export interface Observation {
  /** The oracle recorded no violation. */
  readonly violations: number;
  /** Every call of every thread, in order: `ok`, an errno, `fault`, `blocked`. */
  readonly outcomes: ReadonlyMap<string, readonly string[]>;
}

/** The outcomes a call can have besides an errno. */
const WORDS = ["ok", "blocked", "fault", "violation"] as const;

const TOKEN = /\s*(\(|\)|\[|\]|==|!=|[A-Za-z_][A-Za-z0-9_-]*|\d+|\S)/y;

function tokenize(text: string): string[] {
  const tokens: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < text.length) {
    const at = TOKEN.lastIndex;
    const m = TOKEN.exec(text);
    if (m === null || m[1] === undefined) {
      if (text.slice(at).trim() === "") break;
      throw new Error(`unexpected text at "${text.slice(at).trim()}"`);
    }
    tokens.push(m[1]);
  }
  return tokens;
}

/**
 * Parses a condition.
 *
 * @param text - the condition as written.
 * @param threads - the scenario's threads and how many calls each has.
 * @returns the condition.
 * @throws Error with a sentence naming what is wrong (the caller adds the file and field).
 */
export function parseCondition(text: string, threads: ReadonlyMap<string, number>): Condition {
  const tokens = tokenize(text);
  let i = 0;
  const peek = (): string | undefined => tokens[i];
  const take = (want?: string): string => {
    const t = tokens[i];
    if (t === undefined)
      throw new Error(`"${text}" ends early${want === undefined ? "" : `: expected ${want}`}`);
    if (want !== undefined && t !== want)
      throw new Error(`expected ${want} before "${t}" in "${text}"`);
    i++;
    return t;
  };
  const atom = (): Condition => {
    const t = take();
    if (t === "no-violation") return { kind: "no-violation" };
    if (t === "no-deadlock") return { kind: "no-deadlock" };
    const calls = threads.get(t);
    if (calls === undefined) {
      const known = [...threads.keys()].join(", ");
      throw new Error(
        `"${t}" is neither no-violation, no-deadlock nor a thread (threads: ${known})`,
      );
    }
    take("[");
    const n = take();
    if (!/^\d+$/.test(n)) throw new Error(`${t}[${n}]: a call index is a number`);
    const call = Number(n);
    if (call >= calls) throw new Error(`${t}[${call}]: thread ${t} has ${calls} call(s)`);
    take("]");
    const op = take();
    if (op !== "==" && op !== "!=")
      throw new Error(`${t}[${call}]: expected == or != before "${op}"`);
    const value = take();
    if (!(WORDS as readonly string[]).includes(value) && !ERRNO_NAMES.includes(value as never))
      throw new Error(`"${value}" is not an outcome (${WORDS.join(", ")} or an errno name)`);
    return { kind: "outcome", thread: t, call, value, negated: op === "!=" };
  };
  const unary = (): Condition => {
    if (peek() === "not") {
      take();
      return { kind: "not", of: unary() };
    }
    if (peek() === "(") {
      take();
      const c = or();
      take(")");
      return c;
    }
    return atom();
  };
  const and = (): Condition => {
    let left = unary();
    while (peek() === "and") {
      take();
      left = { kind: "and", left, right: unary() };
    }
    return left;
  };
  const or = (): Condition => {
    let left = and();
    while (peek() === "or") {
      take();
      left = { kind: "or", left, right: and() };
    }
    return left;
  };
  const c = or();
  if (i < tokens.length) throw new Error(`unexpected "${tokens[i] ?? ""}" in "${text}"`);
  return c;
}

/**
 * Whether a condition holds in an observed terminal state.
 *
 * @param c - the condition.
 * @param o - the observation.
 * @returns true when it holds.
 */
export function holds(c: Condition, o: Observation): boolean {
  switch (c.kind) {
    case "no-violation":
      return o.violations === 0;
    case "no-deadlock":
      return [...o.outcomes.values()].every((calls) => calls.every((x) => x !== "blocked"));
    case "outcome": {
      const got = o.outcomes.get(c.thread)?.[c.call] ?? "blocked";
      return (got === c.value) !== c.negated;
    }
    case "not":
      return !holds(c.of, o);
    case "and":
      return holds(c.left, o) && holds(c.right, o);
    case "or":
      return holds(c.left, o) || holds(c.right, o);
    default: {
      const unknown: never = c;
      throw new Error(`holds: ${JSON.stringify(unknown)}`);
    }
  }
}
