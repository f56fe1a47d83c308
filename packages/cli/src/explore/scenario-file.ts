/*
 * A scenario file (rfc/scenarios/*.yaml, rfc/scenarios/README.md): a
 * machine, a profile, `init` calls run in order, threads of calls run
 * concurrently, and what must hold in every (`forall`) or some (`exists`)
 * terminal state of their interleavings.
 */
import * as z from "zod";
import { machineDescriptionSchema } from "../replay/machine.js";
import {
  replayCallSchema,
  replayEventSchema,
  replayIoctlSchema,
  replayNameSchema,
  replaySyscallSchema,
} from "../replay/schema.js";

/**
 * A thread's call in the plain-data form of an op of the model's alphabet
 * (`{ op: revoke, buf: buf0, permanent: false, by: exp0 }`, a driver's op
 * such as `{ op: guest-access, ... }`), validated against the machine's ops
 * when the scenario is loaded; string fields may name earlier results.
 */
export const plainOpCallSchema = z
  .looseObject({
    /** The op's name: a core op kind or a driver op of the machine. */
    op: z.string().min(1),
    /** A name for the op's return value (an export's dma-buf fd). */
    as: replayNameSchema.optional(),
  })
  // A driver op may take an fd (a memslot's dma-buf, an MR's): an ioctl is told by `ioctl`.
  .refine((c) => !("ioctl" in c || "event" in c || "syscall" in c), {
    message: "a call is an ioctl (fd, ioctl), an event, a syscall or an op, not two of them",
  });

/** Which form a call is, by its keys, so an error names the field of that form. */
function formOf(v: unknown): z.ZodType | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  if ("ioctl" in v) return replayIoctlSchema;
  if ("event" in v) return replayEventSchema;
  if ("syscall" in v) return replaySyscallSchema;
  if ("op" in v) return plainOpCallSchema;
  return undefined;
}

/**
 * One call of `init` or of a thread: an ioctl (`ioctl`), an event
 * (`event`), a syscall (`syscall`) or an op (`op`); checked against the
 * form its keys name, so a misspelt event or field is reported as such.
 */
export const scenarioCallSchema = z
  .unknown()
  .transform((v, ctx): z.output<typeof replayCallSchema> | z.output<typeof plainOpCallSchema> => {
    const form = formOf(v);
    if (form === undefined) {
      ctx.addIssue({
        code: "custom",
        message:
          "a call is an ioctl (fd, ioctl), an event (event), a syscall (syscall) or an op (op)",
      });
      return z.NEVER;
    }
    const r = form.safeParse(v);
    if (!r.success) {
      for (const issue of r.error.issues)
        ctx.addIssue({ code: "custom", message: issue.message, path: issue.path });
      return z.NEVER;
    }
    return r.data as z.output<typeof replayCallSchema> | z.output<typeof plainOpCallSchema>;
  });

/** One expectation: a condition over terminal states. */
export const expectationSchema = z.union([
  z.strictObject({
    /** Must hold in every terminal state of every interleaving. */
    forall: z.string().min(1),
  }),
  z.strictObject({
    /** Must hold in at least one terminal state. */
    exists: z.string().min(1),
  }),
]);

const threadNameSchema = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "a thread name is letters, digits and _")
  .refine((n) => n !== "kernel" && n !== "not" && n !== "and" && n !== "or", {
    message: "kernel, not, and, or are reserved",
  });

/** A scenario file. */
export const scenarioFileSchema = z.strictObject({
  /** Its name (the file's, without `.yaml`). */
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, "a scenario name is lower case, digits and -"),
  /** The profile it is written for (`--profile` overrides). */
  profile: z.string().min(1).optional(),
  /** `default` or a machine description (the replay machine, README). */
  machine: z.union([z.literal("default"), machineDescriptionSchema]).default("default"),
  /** What it shows, for maintainers. */
  doc: z.string().optional(),
  /** The kernel-model sections, seeds or commits it draws on. */
  sources: z.string().optional(),
  /** Calls run in order before the threads start. */
  init: z.array(scenarioCallSchema).default([]),
  /** The concurrent threads: each a list of calls, run in order. */
  threads: z
    .record(threadNameSchema, z.array(scenarioCallSchema).min(1))
    .refine((t) => Object.keys(t).length > 0, { message: "a scenario has at least one thread" }),
  /** The expectations, checked in file order. */
  expect: z.array(expectationSchema).min(1),
  /**
   * Bounds for a scenario too big to explore fully in the test command
   * (`--max-states`/`--max-depth` override); a bounded verdict says so.
   */
  bounds: z
    .strictObject({
      /** Stop after this many distinct states. */
      maxStates: z.number().int().positive().optional(),
      /** Expand no state this deep. */
      maxDepth: z.number().int().positive().optional(),
    })
    .optional(),
});

/** A parsed scenario file. */
export type ScenarioFile = z.output<typeof scenarioFileSchema>;
/** One parsed call of a scenario. */
export type ScenarioCall = z.output<typeof scenarioCallSchema>;
/** One parsed expectation. */
export type Expectation = z.output<typeof expectationSchema>;
