import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    conditions: ["@dmabuf-ref/source"],
  },
  ssr: {
    resolve: {
      conditions: ["@dmabuf-ref/source"],
    },
  },
  test: {
    include: ["packages/*/test/**/*.test.ts", "examples/*/test/**/*.test.ts"],
    reporters: ["default", ["json", { outputFile: "reports/vitest.json" }]],
    testTimeout: 30_000,
    // One module graph per worker, not per file: importing the sources
    // (tsx-transformed) was most of the run; no test keeps state between files.
    isolate: false,
  },
});
