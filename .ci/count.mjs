// Sums the JSON reports in a directory (vitest's --reporter=json, and any
// other runner's report converted to {numPassedTests, numFailedTests}) and
// prints the one line CI reads: "N passed, N failed". Failed set-up steps
// named on the command line count as failures, and so does a missing report.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const [dir, ...failedSteps] = process.argv.slice(2);
let passed = 0;
let failed = failedSteps.length;
const reports = readdirSync(dir).filter((f) => f.endsWith(".json"));
// A runner that crashed writes no report: that must not pass silently.
for (const required of ["vitest.json", "deno.json", "bun.json", "workerd.json"]) {
  if (!reports.includes(required)) {
    console.log(`${required} missing: counting that run as failed`);
    failed += 1;
  }
}
for (const file of reports) {
  const report = JSON.parse(readFileSync(join(dir, file), "utf8"));
  passed += report.numPassedTests ?? 0;
  failed += report.numFailedTests ?? 0;
  // A suite that failed to load has no tests in it but must not pass silently.
  for (const suite of report.testResults ?? []) {
    if (suite.status === "failed" && (suite.assertionResults ?? []).length === 0) {
      console.log(`suite failed to run: ${suite.name}: ${(suite.message ?? "").split("\n")[0]}`);
      failed += 1;
    }
  }
}
for (const step of failedSteps) console.log(`step failed: ${step}`);
console.log(`${passed} passed, ${failed} failed`);
