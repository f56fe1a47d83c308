#!/usr/bin/env node
import { runCli } from "./program.js";

// A reader that stops early (`dmabuf-ref --help | head -1`) closes the
// pipe: the rest of the output has nowhere to go, so end quietly, as
// command-line tools do, instead of dying on an unhandled EPIPE.
for (const stream of [process.stdout, process.stderr])
  stream.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw e;
  });

const code = await runCli(process.argv.slice(2), {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
});
process.exitCode = code;
