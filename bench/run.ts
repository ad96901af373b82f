/**
 * Runs the benchmarks one after another, each in its own process (so one's memory and timers never
 * colour another's figures): `npm run bench` for all, `npm run bench -- registry sweep` for some.
 * Extra flags after `--` are passed to every benchmark (e.g. `--quick` where supported).
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const BENCHMARKS = ["registry", "ingest", "retention", "scanner", "sweep"] as const;

const args = process.argv.slice(2);
const names = args.filter((arg) => !arg.startsWith("-"));
const flags = args.filter((arg) => arg.startsWith("-"));
const unknown = names.filter((name) => !(BENCHMARKS as readonly string[]).includes(name));
if (unknown.length > 0) {
  process.stderr.write(`bench: unknown benchmark ${unknown.join(", ")}; known: ${BENCHMARKS.join(", ")}\n`);
  process.exit(2);
}

const selected = names.length > 0 ? names : [...BENCHMARKS];
const tsx = fileURLToPath(new URL("../node_modules/.bin/tsx", import.meta.url));
let failed = 0;
for (const name of selected) {
  process.stdout.write(`\n== bench/${name}.ts ${flags.join(" ")}\n`);
  const script = fileURLToPath(new URL(`./${name}.ts`, import.meta.url));
  const run = spawnSync(tsx, ["--expose-gc", script, ...flags], { stdio: "inherit" });
  if (run.status !== 0) failed += 1;
}
process.exit(failed === 0 ? 0 : 1);
