/*
 * The importer suite's cases (`importerContract`): the contract exporter
 * (the reference exporter: revocable, waits for every unmap, frees at
 * release) hands a buffer to the importer under test, which imports it
 * its own way; the revoke obligations of kernel-facts §1.3 are checked
 * on a fixed run and on every interleaving.
 */
import { boot } from "@dmabuf-ref/core";
import type { Machine, Op, Profile, World } from "@dmabuf-ref/core";
import type { CaseVerdict, ContractCase } from "./case.js";
import { PASS, broken } from "./case.js";
import type { ContractState, ContractThread } from "./explorer.js";
import { ContractSpace, search } from "./explorer.js";
import type { ContractOptions, ImporterUnderTest } from "./harness.js";
import { failedStepsChangeNothing, wellBehavedRunsKeepTheRules } from "./model-runs.js";
import { CONTRACT_EXPORTER, attachmentsOf, contractExporter, mustHaveDriver } from "./partners.js";
import { deadlockRule, violationRule } from "./rules.js";
import { Session } from "./session.js";

/** The size of the contract exporter's buffer: two pages. */
const BUFFER_SIZE = 0x2000n;

/** What the importer cases run on: the machine under one profile and an imported buffer. */
export interface ImporterContext {
  /** The harness. */
  readonly harness: ImporterUnderTest;
  /** The profile. */
  readonly profile: Profile;
  /** The machine (importer under test + contract exporter). */
  readonly m: Machine;
  /** The world with the buffer exported and imported. */
  readonly imported: World;
  /** The buffer. */
  readonly buf: number;
  /** The suite's options. */
  readonly options: ContractOptions;
}

/**
 * The op that exports one contract buffer.
 *
 * @param harness - the importer under test (names the exporting device).
 * @returns the op.
 */
export function contractExport(harness: ImporterUnderTest): Op {
  return {
    kind: "export",
    exporter: CONTRACT_EXPORTER,
    owner: harness.exportingDevice ?? "exp0",
    args: { size: BUFFER_SIZE },
  };
}

/**
 * Builds the context: boots the harness's machine with the contract
 * exporter, exports one buffer and lets the importer import it.
 *
 * @param harness - the importer under test.
 * @param profile - the profile.
 * @param options - the suite's options.
 * @returns the context.
 */
export function importerContext(
  harness: ImporterUnderTest,
  profile: Profile,
  options: ContractOptions,
): ImporterContext {
  const m = harness.machine(profile, harness.partner?.(profile) ?? contractExporter());
  mustHaveDriver(m, harness.driver, "importer");
  mustHaveDriver(m, CONTRACT_EXPORTER, "exporter");
  const s = new Session(m, boot(m));
  const e = s.call("setup", contractExport(harness));
  if (e.status !== "done" || e.created === undefined)
    throw new Error(`the contract exporter's export failed: ${e.status}`);
  const imported = harness.importBuffer(m, s.world, e.created);
  if (attachmentsOf(imported, e.created, harness.driver).length === 0)
    throw new Error(`importBuffer() left ${harness.driver} with no attachment to buf ${e.created}`);
  return { harness, profile, m, imported, buf: e.created, options };
}

/** The contract exporter's permanent revoke of the buffer (close or unbind of its device). */
function revokeForGood(buf: number): Op {
  return { kind: "revoke", buf, permanent: true, by: "contract" };
}

/** The first violation as a rule, or undefined. */
function firstViolation(w: World): string | undefined {
  const v = w.violations.values().next();
  return v.done === true ? undefined : violationRule(v.value);
}

/** The importer's attachments to the buffer that still hold a mapping. */
function stillMapped(ctx: ImporterContext, w: World): number[] {
  return attachmentsOf(w, ctx.buf, ctx.harness.driver).filter(
    (id) => w.atts.get(id)?.mapping !== null,
  );
}

function explore(
  ctx: ImporterContext,
  threads: readonly ContractThread[],
  atEnd?: (s: ContractState) => string | undefined,
): CaseVerdict {
  const space = new ContractSpace(ctx.m, ctx.imported, threads);
  const v = search(
    space,
    {
      always: (s) => firstViolation(s.world),
      atEnd: (s, sp) => deadlockRule(s, sp) ?? atEnd?.(s),
    },
    ctx.options.maxStates ?? 20_000,
  );
  if (v.broken !== undefined) return broken(v.broken.rule, v.broken.run);
  return { status: "pass", detail: `${v.states} states${v.complete ? "" : " (bounded)"}` };
}

/** The device's access threads of the harness in this world, a read and a write. */
function accessThreads(ctx: ImporterContext, w: World): ContractThread[] {
  return (["read", "write"] as const).flatMap((dir) => {
    const calls = ctx.harness.access(ctx.m, w, ctx.buf, dir);
    return calls.length === 0 ? [] : [{ name: `dev-${dir}`, calls }];
  });
}

/** The importer suite's cases, in the order they run. */
export const IMPORTER_CASES: readonly ContractCase<ImporterContext>[] = [
  {
    id: "importer/lifetime",
    rule:
      "an imported buffer is reachable by the importer's device, and the importer's release " +
      "unmaps and detaches everything, after which the buffer is released with no violation",
    check(ctx) {
      const s = new Session(ctx.m, ctx.imported);
      const created: (number | undefined)[] = [];
      for (const call of ctx.harness.access(ctx.m, s.world, ctx.buf, "read")) {
        const op = typeof call === "function" ? call(s.world, created) : call;
        if (op === null)
          return broken("the importer's device reaches an imported, live buffer", s.steps);
        const r = s.call("device", op);
        created.push(r.status === "done" ? r.created : undefined);
        if (r.status !== "done" || s.steps[s.steps.length - 1]?.outcome !== "ok")
          return broken("the importer's device reaches an imported, live buffer", s.steps);
        const settled = s.settle();
        if (settled !== undefined) return broken(settled, s.steps);
      }
      for (const op of ctx.harness.release(ctx.m, s.world, ctx.buf)) {
        const r = s.call("user", op);
        if (r.status !== "done") return broken("the importer's release calls succeed", s.steps);
      }
      const settled = s.settle();
      if (settled !== undefined) return broken(settled, s.steps);
      if (attachmentsOf(s.world, ctx.buf, ctx.harness.driver).length > 0)
        return broken(
          "after its release the importer holds no attachment (dma_buf_unmap_attachment, dma_buf_detach)",
          s.steps,
        );
      const close = s.call("user", { kind: "close", buf: ctx.buf });
      if (close.status !== "done")
        return broken("closing the last fd of the buffer succeeds", s.steps);
      const last = s.settle();
      if (last !== undefined) return broken(last, s.steps);
      const b = s.world.bufs.get(ctx.buf);
      if (b !== undefined && !b.released)
        return broken(
          "once the importer let go, the last dma_buf_put() releases the buffer (no reference leaks)",
          s.steps,
        );
      const v = s.violations();
      return v[0] === undefined ? PASS : broken(v[0], s.steps);
    },
  },
  {
    id: "importer/revoke-unmaps",
    rule:
      "on invalidate_mappings the importer unmaps in bounded steps, so the exporter's revoke " +
      "completes, in every interleaving (kernel-facts §1.3: importers with the op must unmap " +
      "in bounded time)",
    check(ctx) {
      return explore(ctx, [{ name: "exporter", calls: [revokeForGood(ctx.buf)] }], (st) =>
        stillMapped(ctx, st.world).length > 0
          ? "the importer unmapped every mapping once the revoke returned"
          : undefined,
      );
    },
  },
  {
    id: "importer/no-access-after-unmap",
    rule:
      "the importer's device never reaches the buffer's memory once it unmapped, never writes " +
      "after the invalidate, and only read-and-discards until the unmap (kernel-facts §1.3)",
    check(ctx) {
      const devices = accessThreads(ctx, ctx.imported);
      if (devices.length === 0)
        return { status: "not-applicable", reason: `${ctx.harness.driver} has no device access` };
      return explore(ctx, [{ name: "exporter", calls: [revokeForGood(ctx.buf)] }, ...devices]);
    },
  },
  {
    id: "importer/release-races-revoke",
    rule:
      "the importer's release racing a revoke keeps the resv rules and the order detach then " +
      "free (unpin under resv: e745cd2c749e; detach before destroying state: f2d70dbd3dce)",
    check(ctx) {
      return explore(ctx, [
        { name: "exporter", calls: [revokeForGood(ctx.buf)] },
        { name: "user", calls: ctx.harness.release(ctx.m, ctx.imported, ctx.buf) },
      ]);
    },
  },
  {
    id: "importer/unrevoke-is-harmless",
    rule:
      "a temporary revoke and its un-revoke (both invalidate in v7.1) racing the device's " +
      "accesses break no rule: the importer is idempotent under repeated invalidates",
    check(ctx) {
      return explore(ctx, [
        {
          name: "exporter",
          calls: [
            { kind: "revoke", buf: ctx.buf, permanent: false, by: "contract" },
            { kind: "unrevoke", buf: ctx.buf, by: "contract" },
          ],
        },
        ...accessThreads(ctx, ctx.imported),
      ]);
    },
  },
  {
    id: "importer/failed-calls-change-nothing",
    rule:
      "a call that fails (or would sleep) returns the World it was given, for every op of the " +
      "machine in random runs, misuse included (errno discipline)",
    check: (ctx) => failedStepsChangeNothing(ctx.m, ctx.imported, ctx.options),
  },
  {
    id: "importer/model-runs-keep-the-rules",
    rule:
      "random runs of the importer's own entry points and device accesses with the exporter's " +
      "revokes, un-revokes, closes and new buffers never break a rule the oracle judges",
    check: (ctx) =>
      wellBehavedRunsKeepTheRules(ctx.m, ctx.imported, importerUserOps(ctx), ctx.options),
  },
];

/** At most this many contract buffers in a model run (each export is a new one). */
const MAX_BUFFERS = 3;

/**
 * What the importer's user and the contract exporter may do in a world:
 * the importer's entry points (`userOps`, else its `candidates`), device
 * accesses through the import, and per live contract buffer a temporary
 * and a permanent revoke, an un-revoke and a close; a new buffer while
 * there are fewer than three; per job its access and signal.
 *
 * @param ctx - the context.
 * @returns the ops of a world.
 */
export function importerUserOps(ctx: ImporterContext): (m: Machine, w: World) => readonly Op[] {
  return (m, w) => {
    const own =
      ctx.harness.userOps?.(m, w) ?? m.importers.get(ctx.harness.driver)?.candidates?.(m, w) ?? [];
    const ops: Op[] = [...own];
    let live = 0;
    for (const [buf, b] of w.bufs.entries()) {
      if (b.released || b.exporter !== CONTRACT_EXPORTER) continue;
      live++;
      ops.push(
        { kind: "revoke", buf, permanent: false, by: "contract" },
        { kind: "revoke", buf, permanent: true, by: "contract" },
        { kind: "unrevoke", buf, by: "contract" },
        { kind: "close", buf },
      );
      // A random run starts an access with its first call (a device DMA, a
      // job's submission); a job's access and signal are listed per job below.
      if (buf === ctx.buf)
        for (const dir of ["read", "write"] as const) {
          const first = ctx.harness.access(m, w, buf, dir)[0];
          const op = typeof first === "function" ? first(w, []) : first;
          if (op !== undefined && op !== null) ops.push(op);
        }
    }
    if (live < MAX_BUFFERS) ops.push(contractExport(ctx.harness));
    for (const job of w.jobs.keys()) ops.push({ kind: "dma-access", job }, { kind: "signal", job });
    return ops;
  };
}
