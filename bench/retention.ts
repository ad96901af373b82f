/**
 * Retention planning time and peak memory, next to the naive per-tag loop that scripted cleanups
 * use, both measured in the same run over the same in-memory data and the same policy
 * (examples/retention-policy.yaml).
 *
 *   npx tsx bench/retention.ts
 *
 * Scenarios: 100,000 manifests in one repository; 1,000 repositories of 100 manifests. Each
 * (scenario, algorithm) runs in a fresh child process (node --expose-gc) so that peak RSS belongs
 * to that measurement alone: the child builds the data, collects garbage, records its RSS, then
 * runs the algorithm RUNS times (the first one cold). Writes bench/results/retention.json.
 * Targets: planning under 0.5 s and under 200 MB per scenario. The memory target is about the
 * planner, so it is checked against what planning adds on top of the input it is handed (peak RSS
 * during the first run minus RSS with the input loaded), and the input's own size and the whole
 * process's peak are reported next to it.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import type { RepositoryListing, RetentionCandidate } from "../shared/retention/candidates.js";
import { planRetention } from "../shared/retention/planner.js";
import {
  compileRetentionPolicy,
  parseRetentionPolicy,
  type RetentionPolicy,
} from "../shared/retention/policy.js";
import { compareSemanticVersions, parseSemanticVersion } from "../shared/retention/semver.js";

const RUNS = 5;
const NOW = new Date("2026-06-01T00:00:00.000Z");
const REGISTRY = "bench.azurecr.io";
const CAPS = { perRepository: Number.MAX_SAFE_INTEGER, global: Number.MAX_SAFE_INTEGER };
const SCENARIOS = {
  "1 repository x 100,000 manifests": { repositories: 1, manifestsPerRepository: 100_000 },
  "1,000 repositories x 100 manifests": { repositories: 1_000, manifestsPerRepository: 100 },
} as const;
type ScenarioName = keyof typeof SCENARIOS;
type Algorithm = "planner" | "naive";

// ---------------------------------------------------------------------------------------------
// Deterministic data: a mix of single images, multi-arch indexes with two platform children,
// signatures (OCI referrers), untagged leftovers, release / PR / main / build tags, a few locks.

function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Real digests are uniformly random hex; so are these (sorting by digest costs what it costs in production). */
function digest(repositoryIndex: number, serial: number): string {
  return `sha256:${createHash("sha256").update(`${repositoryIndex}/${serial}`).digest("hex")}`;
}

function buildRepository(repositoryIndex: number, size: number, random: () => number): RepositoryListing {
  const manifests: RetentionCandidate[] = [];
  const iso = (daysAgo: number) => new Date(NOW.getTime() - daysAgo * 86_400_000).toISOString();
  let serial = 0;
  let build = 0;
  const base = (daysAgo: number, extra: Partial<RetentionCandidate> = {}): RetentionCandidate => ({
    digest: digest(repositoryIndex, serial++),
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    sizeInBytes: Math.floor(random() * 200_000_000),
    pushedAt: iso(daysAgo),
    tags: [],
    deleteEnabled: true,
    writeEnabled: true,
    children: [],
    metadataReadable: true,
    ...extra,
  });
  while (manifests.length < size) {
    const daysAgo = Math.floor(random() * 720);
    const roll = random();
    build += 1;
    const tagName =
      roll < 0.15
        ? `v${Math.floor(build / 100)}.${Math.floor(build / 10) % 10}.${build % 10}`
        : roll < 0.45
          ? `pr-${build}`
          : roll < 0.6
            ? `main-${build}`
            : `build-${build}`;
    const tags =
      random() < 0.75
        ? [{ name: tagName, updatedAt: iso(Math.max(0, daysAgo - Math.floor(random() * 5))) }]
        : [];
    const locked = random() < 0.005;
    if (random() < 0.2 && manifests.length + 3 <= size) {
      const children = [base(daysAgo), base(daysAgo)];
      const index = base(daysAgo, {
        mediaType: "application/vnd.oci.image.index.v1+json",
        tags,
        children: children.map((child) => child.digest),
        deleteEnabled: !locked,
      });
      manifests.push(index, ...children);
      if (random() < 0.3 && manifests.length < size) manifests.push(base(daysAgo, { subject: index.digest }));
    } else {
      const image = base(daysAgo, { tags, deleteEnabled: !locked });
      manifests.push(image);
      if (random() < 0.1 && manifests.length < size) manifests.push(base(daysAgo, { subject: image.digest }));
    }
  }
  return {
    registry: REGISTRY,
    repository: `team-${repositoryIndex % 20}/app-${repositoryIndex}`,
    listingComplete: true,
    manifests,
  };
}

function buildScenario(name: ScenarioName): RepositoryListing[] {
  const { repositories, manifestsPerRepository } = SCENARIOS[name];
  const random = seededRandom(20_260_601);
  return Array.from({ length: repositories }, (_unused, index) =>
    buildRepository(index, manifestsPerRepository, random),
  );
}

// ---------------------------------------------------------------------------------------------
// The naive baseline: what a cleanup script does with `show-tags --orderby time_desc` and
// `show-manifests`. For every repository and every rule it walks the tag list, looks each tag's
// manifest up, compiles the tag pattern and parses the dates again per tag, counts for "keep N",
// then deletes the manifests left without tags and the untagged ones older than the cutoff.
// It knows nothing about indexes, referrers, locks or partial listings.

interface TagRow {
  name: string;
  digest: string;
  lastUpdateTime: string;
}

interface NaiveInput {
  repository: string;
  tags: TagRow[];
  manifests: Map<string, RetentionCandidate>;
}

function toNaiveInput(listings: RepositoryListing[]): NaiveInput[] {
  return listings.map((listing) => {
    const tags: TagRow[] = [];
    for (const candidate of listing.manifests) {
      for (const tag of candidate.tags) {
        tags.push({
          name: tag.name,
          digest: candidate.digest,
          lastUpdateTime: tag.updatedAt ?? candidate.pushedAt ?? "",
        });
      }
    }
    tags.sort((left, right) => (left.lastUpdateTime < right.lastUpdateTime ? 1 : -1));
    return {
      repository: listing.repository,
      tags,
      manifests: new Map(listing.manifests.map((m) => [m.digest, m])),
    };
  });
}

function naivePlan(inputs: NaiveInput[], policy: RetentionPolicy): { deleteDigests: number; untags: number } {
  const rules = compileRetentionPolicy(policy).rules;
  const nowMs = NOW.getTime();
  let deleteDigests = 0;
  let untags = 0;
  for (const input of inputs) {
    const keepTags = new Set<string>();
    const deleteTags = new Set<string>();
    const deleteManifests = new Set<string>();
    for (const rule of rules) {
      if (!rule.appliesToRepository(input.repository)) continue;
      const source = policy.rules[rule.index];
      const conditions = source?.keep ?? source?.delete;
      const pattern = conditions?.tags;
      const matches = (tag: string) => {
        if (!pattern) return true;
        if (pattern.regex !== undefined) return new RegExp(`^(?:${pattern.regex})$`).test(tag);
        const globs = typeof pattern.glob === "string" ? [pattern.glob] : (pattern.glob ?? []);
        return globs.some((glob) =>
          new RegExp(
            `^${glob
              .replace(/[.+^${}()|[\]\\]/g, "\\$&")
              .replace(/\*/g, ".*")
              .replace(/\?/g, ".")}$`,
          ).test(tag),
        );
      };
      if (rule.targetsUntagged) {
        for (const manifest of input.manifests.values()) {
          const age = nowMs - Date.parse(manifest.pushedAt ?? "");
          if (manifest.tags.length === 0 && age > (rule.untaggedOlderThanMs ?? 0))
            deleteManifests.add(manifest.digest);
        }
        continue;
      }
      let ordered = input.tags;
      if (rule.rank?.orderBy === "semver") {
        ordered = [...input.tags].sort((left, right) => {
          const l = parseSemanticVersion(left.name);
          const r = parseSemanticVersion(right.name);
          if (!l || !r) return l ? -1 : r ? 1 : 0;
          return compareSemanticVersions(r, l);
        });
      }
      let counted = 0;
      for (const tag of ordered) {
        const manifest = input.manifests.get(tag.digest);
        if (!manifest || !matches(tag.name)) continue;
        const age = nowMs - Date.parse(tag.lastUpdateTime);
        counted += 1;
        if (rule.kind === "keep") {
          const withinCount = !rule.rank || counted <= rule.rank.count;
          const young = rule.newerThanMs === undefined || age < rule.newerThanMs;
          if (withinCount && young) keepTags.add(tag.name);
        } else {
          const beyond = !rule.rank || counted > rule.rank.count;
          const old = rule.taggedOlderThanMs === undefined || age > rule.taggedOlderThanMs;
          if (beyond && old) deleteTags.add(tag.name);
        }
      }
    }
    const remaining = new Map<string, number>();
    for (const tag of input.tags) remaining.set(tag.digest, (remaining.get(tag.digest) ?? 0) + 1);
    for (const tag of input.tags) {
      if (!deleteTags.has(tag.name) || keepTags.has(tag.name)) continue;
      untags += 1;
      const left = (remaining.get(tag.digest) ?? 1) - 1;
      remaining.set(tag.digest, left);
      if (left === 0) deleteManifests.add(tag.digest);
    }
    deleteDigests += deleteManifests.size;
  }
  return { deleteDigests, untags };
}

// ---------------------------------------------------------------------------------------------
// Measurement (child process) and orchestration (parent)

interface Measurement {
  scenario: ScenarioName;
  algorithm: Algorithm;
  manifests: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  /** Median CPU time (user + system) of the runs: less sensitive to a busy machine than wall time. */
  medianCpuMs: number;
  /** Peak resident set size of the measuring process (input data included). */
  peakRssMb: number;
  /** Resident set size after the input was built, before planning. */
  inputRssMb: number;
  /** Peak RSS minus the RSS with the input loaded: what planning itself added at its worst. */
  planningRssMb: number;
  /** Heap in use with the input loaded, after a full collection. */
  inputHeapMb: number;
  /** Heap the result keeps alive: after full collections, with the plan held minus just before it. */
  resultHeapMb: number;
  result: Record<string, number>;
}

function loadPolicy(): RetentionPolicy {
  const text = readFileSync(
    fileURLToPath(new URL("../examples/retention-policy.yaml", import.meta.url)),
    "utf8",
  );
  return parseRetentionPolicy(text, "examples/retention-policy.yaml");
}

/** Module-level so that the engine cannot drop it before the heap is measured. */
const heldResults: unknown[] = [];

function measure(scenario: ScenarioName, algorithm: Algorithm): Measurement {
  const policy = loadPolicy();
  const listings = buildScenario(scenario);
  const naiveInput = algorithm === "naive" ? toNaiveInput(listings) : [];
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const inputRss = process.memoryUsage().rss;
  const inputHeap = process.memoryUsage().heapUsed;
  let resultHeap = 0;
  const run = (): Record<string, number> => {
    if (algorithm === "naive") return naivePlan(naiveInput, policy);
    const plan = planRetention(listings, policy, { now: NOW, caps: CAPS });
    return {
      deleteDigests: plan.totals.delete,
      untags: plan.totals.untag,
      tagsRemoved: plan.totals.tagsRemoved,
      guarded: plan.totals.guarded,
    };
  };
  const cpuMs = (since: NodeJS.CpuUsage) => {
    const used = process.cpuUsage(since);
    return (used.user + used.system) / 1000;
  };
  const firstCpu = process.cpuUsage();
  const first = performance.now();
  const result = run();
  const firstMs = performance.now() - first;
  const cpuTimes = [cpuMs(firstCpu)];
  const peakAfterFirst = process.resourceUsage().maxRSS * 1024;
  if (gc) {
    // What the answer itself keeps alive: heap after full collections with it held, minus just
    // before it was computed (the input and everything else unchanged).
    gc();
    gc();
    const before = process.memoryUsage().heapUsed;
    heldResults.push(
      algorithm === "naive"
        ? naivePlan(naiveInput, policy)
        : planRetention(listings, policy, { now: NOW, caps: CAPS }),
    );
    gc();
    gc();
    resultHeap = process.memoryUsage().heapUsed - before;
    heldResults.length = 0;
  }
  const times = [firstMs];
  for (let index = 1; index < RUNS; index += 1) {
    // Collect the previous run's plan outside the timing: a single real run does not pay for it.
    gc?.();
    const cpuStarted = process.cpuUsage();
    const started = performance.now();
    run();
    times.push(performance.now() - started);
    cpuTimes.push(cpuMs(cpuStarted));
  }
  times.sort((left, right) => left - right);
  cpuTimes.sort((left, right) => left - right);
  const mb = (bytes: number) => Math.round((bytes / 1_048_576) * 10) / 10;
  const ms = (value: number) => Math.round(value * 10) / 10;
  return {
    scenario,
    algorithm,
    manifests: listings.reduce((sum, listing) => sum + listing.manifests.length, 0),
    medianMs: ms(times[Math.floor(times.length / 2)] ?? 0),
    minMs: ms(times[0] ?? 0),
    maxMs: ms(times[times.length - 1] ?? 0),
    medianCpuMs: ms(cpuTimes[Math.floor(cpuTimes.length / 2)] ?? 0),
    peakRssMb: mb(peakAfterFirst),
    inputRssMb: mb(inputRss),
    planningRssMb: mb(Math.max(0, peakAfterFirst - inputRss)),
    inputHeapMb: mb(inputHeap),
    resultHeapMb: mb(Math.max(0, resultHeap)),
    result,
  };
}

function runChild(scenario: ScenarioName, algorithm: Algorithm): Measurement {
  const child = spawnSync(
    process.execPath,
    ["--expose-gc", "--import", "tsx", fileURLToPath(import.meta.url), "--child", scenario, algorithm],
    { encoding: "utf8", maxBuffer: 16 * 1024 * 1024 },
  );
  if (child.status !== 0) throw new Error(`benchmark child failed: ${child.stderr}`);
  return JSON.parse(child.stdout.trim().split("\n").pop() ?? "{}") as Measurement;
}

function main(): void {
  const loadBefore = loadavg()[0] ?? 0;
  const measurements: Measurement[] = [];
  for (const scenario of Object.keys(SCENARIOS) as ScenarioName[]) {
    for (const algorithm of ["planner", "naive"] as const) measurements.push(runChild(scenario, algorithm));
  }
  const rows = (Object.keys(SCENARIOS) as ScenarioName[]).map((scenario) => {
    const planner = measurements.find(
      (m) => m.scenario === scenario && m.algorithm === "planner",
    ) as Measurement;
    const naive = measurements.find((m) => m.scenario === scenario && m.algorithm === "naive") as Measurement;
    return {
      scenario,
      manifests: planner.manifests,
      planner,
      naive,
      timeRatioPlannerToNaive: Math.round((planner.medianMs / naive.medianMs) * 100) / 100,
      withinTargets: planner.medianMs < 500 && planner.planningRssMb < 200,
    };
  });
  const result = {
    measuredAt: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      model: cpus()[0]?.model,
      node: process.version,
      // Other work on the machine slows memory-bound code far more than the naive loop's arithmetic.
      loadAverage1mBefore: Math.round(loadBefore * 10) / 10,
      loadAverage1mAfter: Math.round((loadavg()[0] ?? 0) * 10) / 10,
    },
    policy:
      "examples/retention-policy.yaml (7 rules: regex, globs, semver-free count, newerThan, taggedOlderThan, untaggedOlderThan)",
    runsPerMeasurement: RUNS,
    targets: { medianMs: 500, planningRssMb: 200 },
    scenarios: rows,
    notes: [
      "Times are the median of the runs in a fresh process, garbage collected between runs (the first run is cold and counted).",
      "Memory: the target applies to planningRssMb, what planning adds at its peak (maximum RSS during the first run minus inputRssMb, the process with the input loaded and collected; garbage not yet collected included). peakRssMb is the whole process, input included. resultHeapMb is what the returned plan keeps alive (heap after full collections with it held, minus just before it was computed); inputHeapMb is the heap holding the input.",
      "medianCpuMs counts every thread of the process (parallel GC included); on a loaded machine it is the steadier figure.",
      "The naive loop does less work: no index children, referrers, locks, fixed-point passes or reasons. Its deleteDigests count includes platform children and signatures that the planner's guards keep.",
      "Data: ~20 % multi-arch indexes with two children, signatures on 10-30 % of images, 25 % untagged leftovers, tags spread over two years.",
    ],
  };
  mkdirSync(fileURLToPath(new URL("./results", import.meta.url)), { recursive: true });
  writeFileSync(
    fileURLToPath(new URL("./results/retention.json", import.meta.url)),
    `${JSON.stringify(result, null, 2)}\n`,
  );

  const table = [
    [
      "scenario",
      "algorithm",
      "median ms",
      "min..max ms",
      "median CPU ms",
      "peak RSS MB",
      "planning RSS MB",
      "result heap MB",
      "deletes",
      "untags",
    ],
    ...rows.flatMap((row) =>
      [row.planner, row.naive].map((m) => [
        row.scenario,
        m.algorithm,
        String(m.medianMs),
        `${m.minMs}..${m.maxMs}`,
        String(m.medianCpuMs),
        String(m.peakRssMb),
        String(m.planningRssMb),
        String(m.resultHeapMb),
        String(m.result.deleteDigests ?? ""),
        String(m.result.untags ?? ""),
      ]),
    ),
  ];
  const widths =
    table[0]?.map((_cell, column) => Math.max(...table.map((line) => (line[column] ?? "").length))) ?? [];
  for (const line of table)
    console.log(line.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join("  "));
  for (const row of rows) {
    console.log(
      `${row.scenario}: planner/naive time ratio ${row.timeRatioPlannerToNaive}; targets (<500 ms, <200 MB added by planning) ${row.withinTargets ? "met" : "NOT met"}`,
    );
  }
  console.log("wrote bench/results/retention.json");
}

if (process.argv[2] === "--child") {
  const measured = measure(process.argv[3] as ScenarioName, process.argv[4] as Algorithm);
  console.log(JSON.stringify(measured));
} else {
  main();
}
