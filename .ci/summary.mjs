// Prints "N passed, N failed" from vitest's JSON report. A failing step
// outside vitest (typecheck, lint, typedoc) counts as one more failure, so
// a red run never reads as green.
import { existsSync, readFileSync } from "node:fs";

const [reportPath = "reports/vitest.json", statusText = "0"] = process.argv.slice(2);
const status = Number(statusText);
let passed = 0;
let failed = 0;
if (existsSync(reportPath)) {
  const report = JSON.parse(readFileSync(reportPath, "utf8"));
  passed = report.numPassedTests ?? 0;
  failed = report.numFailedTests ?? 0;
} else {
  console.log("no vitest report: the run stopped before or during the tests");
}
if (status !== 0 && failed === 0) {
  console.log(`a check outside the test runner failed (exit status ${status})`);
  failed = 1;
}
console.log(`${passed} passed, ${failed} failed`);
