/*
 * The exporter suite's cases (`exporterContract`): the driver under test
 * exports, the contract importer (a correct dynamic importer) attaches,
 * maps and submits DMA, and the rules of kernel-facts §1.3 (the revoke
 * contract) and §1.2 (resv) are checked on a fixed run or on every
 * interleaving.
 */
import { boot, firstDmaAddress, importerHolder, step } from "@dmabuf-ref/core";
import type { MappingState, Machine, Op, Profile, StepOutcome, World } from "@dmabuf-ref/core";
import type { CaseVerdict, ContractCase } from "./case.js";
import { PASS, broken } from "./case.js";
import type { ContractState, ContractThread } from "./explorer.js";
import { ContractSpace, outcomeWord, search } from "./explorer.js";
import type { ContractOptions, ExporterUnderTest } from "./harness.js";
import {
  CONTRACT_IMPORTER,
  contractImporter,
  mustHaveDriver,
  releaseCall,
  submitCall,
} from "./partners.js";
import { Session } from "./session.js";
import { deadlockRule, violationRule } from "./rules.js";
import { failedStepsChangeNothing, wellBehavedRunsKeepTheRules } from "./model-runs.js";

/** What the exporter cases run on: the machine under one profile and a fresh buffer. */
export interface ExporterContext {
  /** The harness. */
  readonly harness: ExporterUnderTest;
  /** The profile. */
  readonly profile: Profile;
  /** The machine (driver under test + contract importer). */
  readonly m: Machine;
  /** The world with the buffer exported. */
  readonly exported: World;
  /** The buffer. */
  readonly buf: number;
  /** The suite's options. */
  readonly options: ContractOptions;
}

/**
 * Builds the context: boots the harness's machine with the contract
 * importer, exports one buffer.
 *
 * @param harness - the exporter under test.
 * @param profile - the profile.
 * @param options - the suite's options.
 * @returns the context.
 */
export function exporterContext(
  harness: ExporterUnderTest,
  profile: Profile,
  options: ContractOptions,
): ExporterContext {
  const m = harness.machine(profile, harness.partner?.() ?? contractImporter());
  mustHaveDriver(m, harness.driver, "exporter");
  mustHaveDriver(m, CONTRACT_IMPORTER, "importer");
  const w0 = boot(m);
  const exported = harness.exportBuffer(m, w0);
  const fresh = [...exported.bufs.entries()].filter(
    ([id, b]) => b.exporter === harness.driver && w0.bufs.get(id) === undefined,
  );
  const last = fresh[fresh.length - 1];
  if (last === undefined)
    throw new Error(`exportBuffer() added no buffer of ${harness.driver} to the world`);
  return { harness, profile, m, exported, buf: last[0], options };
}

/** A buffer attached and mapped by the contract importer: the world, the attachment, its DMA address. */
interface Mapped {
  readonly world: World;
  readonly att: number;
  readonly addr: bigint;
  /** Whether the map went through the importing device's IOMMU (it allocated IOVA). */
  readonly translated: boolean;
}

/** The contract importer attaches to the buffer dynamically, for the harness's device. */
function attachPartner(ctx: ExporterContext, s: Session): StepOutcome {
  return s.call("importer", {
    kind: "attach",
    buf: ctx.buf,
    importer: CONTRACT_IMPORTER,
    device: ctx.harness.importingDevice,
    dynamic: true,
  });
}

/**
 * The contract importer maps an attachment under the buffer's resv, as a
 * dynamic importer does (lock, map, unlock).
 *
 * @returns the map's outcome.
 */
function mapUnderResv(ctx: ExporterContext, s: Session, att: number): StepOutcome {
  const holder = importerHolder(CONTRACT_IMPORTER, att);
  s.call("importer", { kind: "lock", buf: ctx.buf, holder });
  const map = s.call("importer", { kind: "map", att, holder });
  s.call("importer", { kind: "unlock", buf: ctx.buf, holder });
  return map;
}

/**
 * Attaches the contract importer dynamically for the harness's device and
 * maps under resv, as a dynamic importer does.
 */
function mapFresh(ctx: ExporterContext): { session: Session; mapped: Mapped } | CaseVerdict {
  const s = new Session(ctx.m, ctx.exported);
  const attach = attachPartner(ctx, s);
  if (attach.status !== "done" || attach.created === undefined)
    return broken(
      "an exporter accepts a dynamic, revocable importer's attach (dma_buf_dynamic_attach)",
      s.steps,
    );
  const att = attach.created;
  if (mapUnderResv(ctx, s, att).status !== "done" || s.world.bufs.get(ctx.buf)?.resvHolder)
    return broken(
      "map under dmabuf->resv of a fresh attachment succeeds (dma_buf_map_attachment)",
      s.steps,
    );
  const mapping = s.world.atts.get(att)?.mapping;
  const addr = mapping === undefined || mapping === null ? undefined : addressOf(ctx)(mapping);
  if (addr === undefined)
    return broken("map hands the importer a mapping its device has an address for", s.steps);
  return {
    session: s,
    mapped: { world: s.world, att, addr, translated: (mapping?.iova.length ?? 0) > 0 },
  };
}

/** Where the importing device's DMA through a mapping starts, for this harness. */
function addressOf(ctx: ExporterContext): (mapping: MappingState) => bigint | undefined {
  return ctx.harness.addressOf ?? firstDmaAddress;
}

/** Pass, or the first violation the oracle recorded in the session. */
function noViolation(s: Session): CaseVerdict {
  const v = s.violations();
  return v[0] === undefined ? PASS : broken(v[0], s.steps);
}

/** The first violation as a rule, or undefined. */
function firstViolation(w: World): string | undefined {
  const v = w.violations.values().next();
  return v.done === true ? undefined : violationRule(v.value);
}

/** Explores threads from a mapped world; every state judged for violations and failed work. */
function exploreFrom(
  ctx: ExporterContext,
  from: World,
  threads: readonly ContractThread[],
  atEnd?: (s: ContractState, space: ContractSpace) => string | undefined,
  somewhere?: { what: string; holds: (s: ContractState) => boolean },
  always?: (s: ContractState) => string | undefined,
): CaseVerdict {
  const space = new ContractSpace(ctx.m, from, threads);
  const v = search(
    space,
    {
      always: (s) => firstViolation(s.world) ?? always?.(s),
      atEnd: (s, sp) => deadlockRule(s, sp) ?? atEnd?.(s, sp),
      ...(somewhere === undefined ? {} : { somewhere }),
    },
    ctx.options.maxStates ?? 20_000,
  );
  if (v.broken !== undefined) return broken(v.broken.rule, v.broken.run);
  return { status: "pass", detail: `${v.states} states${v.complete ? "" : " (bounded)"}` };
}

const needsRevoke = (ctx: ExporterContext): CaseVerdict | undefined =>
  ctx.harness.revoke === null
    ? { status: "not-applicable", reason: `${ctx.harness.driver} never revokes a buffer` }
    : undefined;

/** The exporter suite's cases, in the order they run. */
export const EXPORTER_CASES: readonly ContractCase<ExporterContext>[] = [
  {
    id: "exporter/lifetime",
    rule:
      "a buffer attaches, maps under resv, unmaps, detaches and is released after its last " +
      "reference, with no violation (dma_buf_attach/map/unmap/detach, ops->release)",
    check(ctx) {
      const fresh = mapFresh(ctx);
      if ("status" in fresh) return fresh;
      const { session: s, mapped } = fresh;
      const holder = importerHolder(CONTRACT_IMPORTER, mapped.att);
      const rest: Op[] = [
        { kind: "lock", buf: ctx.buf, holder },
        { kind: "unmap", att: mapped.att, holder },
        { kind: "unlock", buf: ctx.buf, holder },
        { kind: "detach", att: mapped.att },
        { kind: "close", buf: ctx.buf },
      ];
      for (const op of rest) {
        const rule = s.runToEnd("user", op, `${op.kind} of a live, unrevoked buffer succeeds`);
        if (rule !== undefined) return broken(rule, s.steps);
      }
      const clean = noViolation(s);
      if (clean.status !== "pass") return clean;
      const b = s.world.bufs.get(ctx.buf);
      if (b !== undefined && !b.released)
        return broken(
          "the last dma_buf_put() of an unattached buffer releases it (ops->release)",
          s.steps,
        );
      return PASS;
    },
  },
  {
    id: "exporter/revoke-completes",
    rule:
      "a revoke invalidates every attachment under dmabuf->resv and completes once every " +
      "importer unmapped, in every interleaving with the importer's work (kernel-facts §1.3)",
    check(ctx) {
      const skip = needsRevoke(ctx);
      if (skip !== undefined || ctx.harness.revoke === null) return skip ?? PASS;
      const fresh = mapFresh(ctx);
      if ("status" in fresh) return fresh;
      const { mapped } = fresh;
      const revoke = ctx.harness.revoke(ctx.m, mapped.world, ctx.buf);
      return exploreFrom(
        ctx,
        mapped.world,
        [{ name: "user", calls: [revoke] }],
        (st) => {
          const a = st.world.atts.get(mapped.att);
          if (a !== undefined && a.mapping !== null)
            return "every mapping is unmapped once the revoke returned (the exporter waits for it)";
          const b = st.world.bufs.get(ctx.buf);
          if (b !== undefined && !b.released && b.revoked === "usable")
            return "after a revoke returned the buffer is revoked";
          return undefined;
        },
        undefined,
        // The revoke's task is over (revoked, no task) while the importer
        // still maps: it did not wait for the unmap (until then the
        // importer may still read-and-discard, kernel-facts §1.3).
        (st) => {
          const b = st.world.bufs.get(ctx.buf);
          const a = st.world.atts.get(mapped.att);
          return b !== undefined &&
            b.revoked !== "usable" &&
            b.task === null &&
            a !== undefined &&
            a.mapping !== null
            ? "a revoke returns only once every importer unmapped (the exporter waits for the unmaps)"
            : undefined;
        },
      );
    },
  },
  {
    id: "exporter/revoke-races-dma",
    rule:
      "no DMA reaches memory the exporter gave up, whatever order a device's reads, a fenced " +
      "job and the revoke take: reads may land until the unmap (read-and-discard); after it " +
      "the device's IOVA reaches nothing (the exporter's unmap tore the IOMMU mapping down)",
    check(ctx) {
      const skip = needsRevoke(ctx);
      if (skip !== undefined || ctx.harness.revoke === null) return skip ?? PASS;
      const fresh = mapFresh(ctx);
      if ("status" in fresh) return fresh;
      const { mapped } = fresh;
      const device = ctx.harness.importingDevice;
      const revoke = ctx.harness.revoke(ctx.m, mapped.world, ctx.buf);
      const read: Op = { kind: "dma", device, addr: mapped.addr, len: 8n, dir: "read" };
      const threads: ContractThread[] = [
        { name: "user", calls: [revoke] },
        // The importer's device reads while its importer holds the mapping
        // (after the invalidate too: read-and-discard), not after the unmap.
        { name: "dev", calls: [(w) => (w.atts.get(mapped.att)?.mapping ? read : null)] },
        {
          name: "job",
          calls: [
            submitCall(mapped.att, "write"),
            (_w, created) => ({ kind: "dma-access", job: created[0] ?? -1 }),
            (_w, created) => ({ kind: "signal", job: created[0] ?? -1 }),
          ],
        },
      ];
      // Where the device reached the buffer through its IOMMU, the old IOVA
      // must fault once the mapping is gone (without an IOMMU on the path,
      // a bus or fabric address, only the importer's discipline protects).
      const probe = (st: ContractState): string | undefined => {
        if (!mapped.translated || st.world.atts.get(mapped.att)?.mapping) return undefined;
        const r = step(ctx.m, st.world, read);
        return outcomeWord(r) === "fault"
          ? undefined
          : "once the importer unmapped, its device's IOVA reaches nothing (the exporter's " +
              `unmap tears the IOMMU mapping down; a read there was ${outcomeWord(r)})`;
      };
      return exploreFrom(ctx, mapped.world, threads, probe);
    },
  },
  {
    id: "exporter/revoked-refuses-map",
    rule:
      "after a revoke for good no attachment maps again: map fails with ENODEV, and a new " +
      "attach either fails with ENODEV (VFIO) or its map does (dma-buf core itself does not " +
      "refuse the attach; kernel-facts §2.5 item 9)",
    check(ctx) {
      const skip = needsRevoke(ctx);
      if (skip !== undefined || ctx.harness.revoke === null) return skip ?? PASS;
      const fresh = mapFresh(ctx);
      if ("status" in fresh) return fresh;
      const { session: s, mapped } = fresh;
      const revoked = s.runToEnd(
        "user",
        ctx.harness.revoke(ctx.m, s.world, ctx.buf),
        "the revoke call runs",
      );
      if (revoked !== undefined) return broken(revoked, s.steps);
      const map = mapUnderResv(ctx, s, mapped.att);
      if (map.status !== "failed" || map.error.errno !== "ENODEV")
        return broken("map of a revoked dma-buf fails with ENODEV", s.steps);
      const attach = attachPartner(ctx, s);
      if (attach.status === "done" && attach.created !== undefined) {
        const again = mapUnderResv(ctx, s, attach.created);
        if (again.status !== "failed" || again.error.errno !== "ENODEV")
          return broken(
            "a new attachment to a revoked dma-buf cannot map: map fails with ENODEV",
            s.steps,
          );
      } else if (attach.status !== "failed" || attach.error.errno !== "ENODEV")
        return broken("an attach a revoked dma-buf refuses fails with ENODEV", s.steps);
      return noViolation(s);
    },
  },
  {
    id: "exporter/revoke-after-revoke",
    rule:
      "a revoke for good of a buffer an earlier revoke left revoked completes and puts nothing " +
      "twice (a second revoke is a no-op; VFIO's cleanup skips a revoked buffer: c64a647c84f3)",
    check(ctx) {
      const first = ctx.harness.revokeUntilRestored;
      if (first === undefined || ctx.harness.revoke === null)
        return {
          status: "not-applicable",
          reason: `${ctx.harness.driver} has no revoke that lasts until a restore`,
        };
      const fresh = mapFresh(ctx);
      if ("status" in fresh) return fresh;
      const { session: s } = fresh;
      const firstDone = s.runToEnd(
        "user",
        first(ctx.m, s.world, ctx.buf),
        "the first revoke's call runs",
      );
      if (firstDone !== undefined) return broken(firstDone, s.steps);
      const clean = noViolation(s);
      if (clean.status !== "pass") return clean;
      const second = ctx.harness.revoke(ctx.m, s.world, ctx.buf);
      const explored = exploreFrom(ctx, s.world, [{ name: "user", calls: [second] }], (st) =>
        st.world.bufs.get(ctx.buf)?.revoked === "usable"
          ? "after a revoke for good the buffer stays revoked"
          : undefined,
      );
      // The failing run starts where the first revoke left the buffer.
      return explored.status === "fail"
        ? broken(explored.rule, [...s.steps, ...explored.run], explored.detail)
        : explored;
    },
  },
  {
    id: "exporter/unrevoke-invalidates",
    rule:
      "an un-revoke makes the buffer mappable again and, where the profile says so (mainline " +
      "v7.1), invalidates the importers first (kernel-facts §2.5 item 8)",
    check(ctx) {
      const temp = ctx.harness.revokeTemporarily;
      if (temp === undefined)
        return {
          status: "not-applicable",
          reason: `${ctx.harness.driver} has no temporary revoke`,
        };
      const fresh = mapFresh(ctx);
      if ("status" in fresh) return fresh;
      const { session: s, mapped } = fresh;
      const before = s.steps.length;
      const tempDone = s.runToEnd(
        "user",
        temp(ctx.m, s.world, ctx.buf),
        "the temporary revoke call runs",
      );
      if (tempDone !== undefined) return broken(tempDone, s.steps);
      const events = s.steps.slice(before).flatMap((x) => x.events);
      const invalidates = events.filter((e) => e.kind === "invalidate").length;
      const wants = (ctx.harness.unrevokeInvalidates?.(ctx.profile) ?? true) ? 2 : 1;
      if (invalidates < wants)
        return broken(
          `a revoke and its un-revoke send ${wants} invalidate${wants === 1 ? "" : "s"} under ` +
            `${ctx.profile.id} (saw ${invalidates})`,
          s.steps,
        );
      const b = s.world.bufs.get(ctx.buf);
      if (b?.revoked !== "usable") return broken("after the un-revoke the buffer is live", s.steps);
      const job = s.call("importer", submitCall(mapped.att, "write"));
      if (job.status !== "done")
        return broken("after the un-revoke the importer maps again and submits", s.steps);
      return noViolation(s);
    },
  },
  {
    id: "exporter/failed-calls-change-nothing",
    rule:
      "a call that fails (or would sleep) returns the World it was given, for every op of the " +
      "machine in random runs, misuse included (errno discipline)",
    check: (ctx) => failedStepsChangeNothing(ctx.m, ctx.exported, ctx.options),
  },
  {
    id: "exporter/model-runs-keep-the-rules",
    rule:
      "random runs of a correct dynamic importer (attach, submit, release, device reads through " +
      "its mappings) with revokes, closes and the exporter's own entry points never break a " +
      "rule the oracle judges",
    check: (ctx) =>
      wellBehavedRunsKeepTheRules(ctx.m, ctx.exported, exporterUserOps(ctx), ctx.options),
  },
];

/**
 * What a well-behaved user does with the exporter under test and the
 * contract importer in a world: the exporter's own entry points
 * (`candidates`), an attach per live buffer, its revoke, temporary revoke
 * and close; per attachment of the contract importer, a job through its
 * command submission, its release, and an unfenced device read at its
 * mapping while it holds one (read-and-discard is allowed until the
 * unmap); per job, its access and its signal.
 *
 * @param ctx - the context.
 * @returns the ops of a world.
 */
export function exporterUserOps(ctx: ExporterContext): (m: Machine, w: World) => readonly Op[] {
  return (m, w) => {
    const ops: Op[] = [...(m.exporters.get(ctx.harness.driver)?.candidates?.(m, w) ?? [])];
    for (const [buf, b] of w.bufs.entries()) {
      if (b.released || b.exporter !== ctx.harness.driver) continue;
      ops.push({
        kind: "attach",
        buf,
        importer: CONTRACT_IMPORTER,
        device: ctx.harness.importingDevice,
        dynamic: true,
      });
      if (ctx.harness.revoke !== null) ops.push(ctx.harness.revoke(m, w, buf));
      if (ctx.harness.revokeTemporarily !== undefined)
        ops.push(ctx.harness.revokeTemporarily(m, w, buf));
      ops.push({ kind: "close", buf });
    }
    for (const [att, a] of w.atts.entries()) {
      if (a.importer !== CONTRACT_IMPORTER) continue;
      ops.push(submitCall(att, "write"), submitCall(att, "read"), releaseCall(att));
      const addr = a.mapping === null ? undefined : addressOf(ctx)(a.mapping);
      if (addr !== undefined)
        ops.push({
          kind: "dma",
          device: a.device ?? ctx.harness.importingDevice,
          addr,
          len: 8n,
          dir: "read",
        });
    }
    for (const job of w.jobs.keys()) ops.push({ kind: "dma-access", job }, { kind: "signal", job });
    return ops;
  };
}
