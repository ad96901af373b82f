import { z } from "zod";

/**
 * Trivy's five severities, most severe first. Trivy selects one per finding; anything else it may
 * print (a future level, an empty string, a missing field) is counted as UNKNOWN, as Trivy itself does.
 */
export const SEVERITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"] as const;

export const SeveritySchema = z.enum(SEVERITIES);
export type Severity = z.infer<typeof SeveritySchema>;

/** One count per severity; every key is always present so sums and comparisons need no guards. */
export const SeverityCountsSchema = z.strictObject({
  CRITICAL: z.number().int().nonnegative(),
  HIGH: z.number().int().nonnegative(),
  MEDIUM: z.number().int().nonnegative(),
  LOW: z.number().int().nonnegative(),
  UNKNOWN: z.number().int().nonnegative(),
});
export type SeverityCounts = z.infer<typeof SeverityCountsSchema>;

const RANK: Readonly<Record<Severity, number>> = { CRITICAL: 4, HIGH: 3, MEDIUM: 2, LOW: 1, UNKNOWN: 0 };

export function normalizeSeverity(value: unknown): Severity {
  if (typeof value !== "string") return "UNKNOWN";
  const upper = value.toUpperCase();
  return (SEVERITIES as readonly string[]).includes(upper) ? (upper as Severity) : "UNKNOWN";
}

/** Positive when `a` is more severe than `b`. */
export function compareSeverity(a: Severity, b: Severity): number {
  return RANK[a] - RANK[b];
}

export function moreSevere(a: Severity, b: Severity): Severity {
  return compareSeverity(a, b) >= 0 ? a : b;
}

export function emptySeverityCounts(): SeverityCounts {
  return { CRITICAL: 0, HIGH: 0, MEDIUM: 0, LOW: 0, UNKNOWN: 0 };
}

export function addSeverityCounts(a: SeverityCounts, b: SeverityCounts): SeverityCounts {
  const sum = emptySeverityCounts();
  for (const severity of SEVERITIES) sum[severity] = a[severity] + b[severity];
  return sum;
}

export function totalOf(counts: SeverityCounts): number {
  let total = 0;
  for (const severity of SEVERITIES) total += counts[severity];
  return total;
}

/** The most severe level with a non-zero count, or null when everything is zero. */
export function highestSeverity(counts: SeverityCounts): Severity | null {
  return SEVERITIES.find((severity) => counts[severity] > 0) ?? null;
}
