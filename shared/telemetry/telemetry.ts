/**
 * The smallest telemetry surface the domain needs: named counters with low-cardinality dimensions.
 * Adapters (Application Insights, console, tests) implement it; domain code never imports an SDK.
 */
export type TelemetryDimensions = Readonly<Record<string, string>>;

export interface Telemetry {
  /** Adds `by` (default 1) to the counter `name` for these dimensions. */
  increment(name: string, by?: number, dimensions?: TelemetryDimensions): void;
}

/** Discards everything; the default where nobody asked for counters. */
export const noTelemetry: Telemetry = {
  increment() {},
};

/** Keeps counters in memory; used by the CLI summary, benchmarks and tests. */
export class InMemoryTelemetry implements Telemetry {
  readonly #counters = new Map<string, number>();

  increment(name: string, by = 1, dimensions: TelemetryDimensions = {}): void {
    const key = counterKey(name, dimensions);
    this.#counters.set(key, (this.#counters.get(key) ?? 0) + by);
  }

  /** The counter's value for exactly these dimensions, or summed over all dimensions when none are given. */
  value(name: string, dimensions?: TelemetryDimensions): number {
    if (dimensions !== undefined) return this.#counters.get(counterKey(name, dimensions)) ?? 0;
    let total = 0;
    for (const [key, count] of this.#counters) {
      if (key === name || key.startsWith(`${name}{`)) total += count;
    }
    return total;
  }

  /** Every counter as `name{dim=value,...}` → count, sorted by key. */
  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.#counters].sort(([a], [b]) => a.localeCompare(b)));
  }
}

function counterKey(name: string, dimensions: TelemetryDimensions): string {
  const entries = Object.entries(dimensions).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) return name;
  return `${name}{${entries.map(([k, v]) => `${k}=${v}`).join(",")}}`;
}
