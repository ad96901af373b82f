/** Request counters served at `GET /_emulator/stats` and by `RunningEmulator.stats()`. */

export interface EmulatorStats {
  /** ISO time the counters started (start-up or last reset). */
  since: string;
  total: number;
  byMethod: Record<string, number>;
  /** Keyed by route template, e.g. `GET /acr/v1/{name}/_manifests`. */
  byRoute: Record<string, number>;
  byStatus: Record<string, number>;
  byRouteAndStatus: Record<string, Record<string, number>>;
  /** Answers the emulator made up: injected 429/500 and budget throttling. */
  faults: { injected429: number; injected500: number; throttled: number };
}

export type FaultKind = "injected429" | "injected500" | "throttled";

function bump(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

export class StatsRecorder {
  private stats: EmulatorStats;

  constructor(private readonly clock: () => number = Date.now) {
    this.stats = this.empty();
  }

  record(method: string, route: string, status: number, fault?: FaultKind): void {
    const s = this.stats;
    s.total += 1;
    bump(s.byMethod, method);
    bump(s.byRoute, route);
    bump(s.byStatus, String(status));
    s.byRouteAndStatus[route] ??= {};
    bump(s.byRouteAndStatus[route], String(status));
    if (fault !== undefined) s.faults[fault] += 1;
  }

  snapshot(): EmulatorStats {
    return structuredClone(this.stats);
  }

  reset(): void {
    this.stats = this.empty();
  }

  private empty(): EmulatorStats {
    return {
      since: new Date(this.clock()).toISOString(),
      total: 0,
      byMethod: {},
      byRoute: {},
      byStatus: {},
      byRouteAndStatus: {},
      faults: { injected429: 0, injected500: 0, throttled: 0 },
    };
  }
}
