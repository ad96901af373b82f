import type { ManifestNotification } from "../notifications.js";
import { redactUrl, sendToSubscriber } from "./httpSend.js";
import type { DeliveryProtocol, HandshakeOutcome, SubscriberRequest } from "./protocols.js";
import { isDelivered, isPermanentFailure, type RetryPolicy, retryDelayMs } from "./retryPolicy.js";

export interface DeliveryLogEntry {
  readonly level: "info" | "warn" | "error";
  readonly message: string;
  /** Subscriber URL without its query string (keys such as `?code=` stay out of logs). */
  readonly endpoint: string;
  readonly subscription: DeliveryProtocol["kind"];
  readonly eventIds?: readonly string[];
}

export interface SubscriptionStats {
  readonly kind: DeliveryProtocol["kind"];
  readonly endpoint: string;
  readonly state: "new" | "validating" | "validated" | "refused";
  /** Events the subscriber accepted. */
  readonly delivered: number;
  /** Events given up on: retries exhausted, 400/413, or the handshake failed. */
  readonly dropped: number;
  /** HTTP requests made for events (first tries and retries), handshakes excluded. */
  readonly attempts: number;
  /** Events not yet delivered or dropped. */
  readonly pending: number;
}

export interface SubscriptionOptions {
  readonly url: URL;
  readonly protocol: DeliveryProtocol;
  readonly retry: RetryPolicy;
  readonly concurrency: number;
  readonly requestTimeoutMs: number;
  readonly ca?: string;
  readonly log: (entry: DeliveryLogEntry) => void;
}

interface Batch {
  readonly events: readonly ManifestNotification[];
  /** Requests already made for this batch. */
  attempts: number;
}

/**
 * One subscriber endpoint: a queue in front of it, the handshake before the first delivery, and
 * retries with back-off. Everything runs off the registry's request path; failures end up in the
 * log and the stats, never in an exception to the caller.
 */
export class Subscription {
  private state: SubscriptionStats["state"] = "new";
  private readonly fresh: ManifestNotification[] = [];
  private readonly due: Batch[] = [];
  private inFlight = 0;
  private pendingCount = 0;
  private delivered = 0;
  private dropped = 0;
  private attempts = 0;
  private closed = false;
  private readonly abort = new AbortController();
  private readonly timers = new Set<NodeJS.Timeout>();
  private drainWaiters: (() => void)[] = [];
  private readonly endpoint: string;

  constructor(private readonly options: SubscriptionOptions) {
    this.endpoint = redactUrl(options.url);
  }

  enqueue(notification: ManifestNotification): void {
    if (this.closed) return;
    this.pendingCount += 1;
    this.fresh.push(notification);
    this.pump();
  }

  /** Resolves once every event enqueued so far is delivered or dropped (or on close). */
  drain(): Promise<void> {
    if (this.pendingCount === 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.fresh.length = 0;
    this.due.length = 0;
    this.releaseDrainWaiters();
  }

  stats(): SubscriptionStats {
    return {
      kind: this.options.protocol.kind,
      endpoint: this.endpoint,
      state: this.state,
      delivered: this.delivered,
      dropped: this.dropped,
      attempts: this.attempts,
      pending: this.pendingCount,
    };
  }

  /** A timer that close() cancels; resolves early (without error) when closed. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed) return resolve();
      const onAbort = (): void => resolve();
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.abort.signal.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      this.timers.add(timer);
      this.abort.signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  private pump(): void {
    if (this.closed) return;
    switch (this.state) {
      case "refused":
        this.dropQueued("the subscriber refused the validation handshake");
        return;
      case "new":
        void this.validate();
        return;
      case "validating":
        return;
      case "validated":
        break;
    }
    while (this.inFlight < this.options.concurrency) {
      const batch = this.due.shift() ?? this.takeFresh();
      if (batch === undefined) return;
      void this.deliver(batch);
    }
  }

  private takeFresh(): Batch | undefined {
    if (this.fresh.length === 0) return undefined;
    return { events: this.fresh.splice(0, this.options.protocol.maxEventsPerRequest), attempts: 0 };
  }

  private async validate(): Promise<void> {
    this.state = "validating";
    let outcome: HandshakeOutcome = { kind: "unreachable", reason: "not tried" };
    for (let attempt = 1; attempt <= this.options.retry.maxAttempts; attempt += 1) {
      try {
        outcome = await this.options.protocol.handshake((request) => this.send(request));
      } catch (error) {
        outcome = { kind: "unreachable", reason: describe(error) };
      }
      if (this.closed) return;
      if (outcome.kind !== "unreachable") break;
      if (attempt < this.options.retry.maxAttempts)
        await this.sleep(retryDelayMs(this.options.retry, attempt));
      if (this.closed) return;
    }
    switch (outcome.kind) {
      case "validated":
        this.state = "validated";
        this.log("info", "subscription validated");
        break;
      case "refused":
        // Like Event Grid: a refused handshake means no subscription, so nothing is ever delivered.
        this.state = "refused";
        this.log("error", `subscription refused: ${outcome.reason}; its events are dropped`);
        this.dropQueued(outcome.reason);
        return;
      case "unreachable":
        // Give up on the events waiting now; the next event starts a new handshake.
        this.state = "new";
        this.log("error", `subscription validation failed: ${outcome.reason}`);
        this.dropQueued(outcome.reason);
        return;
    }
    this.pump();
  }

  private async deliver(batch: Batch): Promise<void> {
    this.inFlight += 1;
    batch.attempts += 1;
    this.attempts += 1;
    let failure: string | undefined;
    let permanent = false;
    try {
      const request = this.options.protocol.request(batch.events, batch.attempts - 1, new Date());
      const answer = await this.send(request);
      if (!isDelivered(answer.status)) {
        failure = `HTTP ${answer.status}`;
        permanent = isPermanentFailure(answer.status);
      }
    } catch (error) {
      failure = describe(error);
    }
    this.inFlight -= 1;
    if (this.closed) return;
    if (failure === undefined) {
      this.delivered += batch.events.length;
      this.settle(batch.events.length);
    } else if (permanent || batch.attempts >= this.options.retry.maxAttempts) {
      this.dropped += batch.events.length;
      this.log(
        "error",
        `delivery failed after ${batch.attempts} attempt(s) (${failure}); events dropped`,
        batch.events,
      );
      this.settle(batch.events.length);
    } else {
      const delay = retryDelayMs(this.options.retry, batch.attempts);
      this.log(
        "warn",
        `delivery attempt ${batch.attempts} failed (${failure}); retrying in ${delay} ms`,
        batch.events,
      );
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.due.push(batch);
        this.pump();
      }, delay);
      this.timers.add(timer);
    }
    this.pump();
  }

  private send(request: SubscriberRequest) {
    return sendToSubscriber({
      url: this.options.url,
      method: request.method,
      headers: request.headers,
      ...(request.body !== undefined ? { body: request.body } : {}),
      ...(this.options.ca !== undefined ? { ca: this.options.ca } : {}),
      timeoutMs: this.options.requestTimeoutMs,
      signal: this.abort.signal,
    });
  }

  private dropQueued(reason: string): void {
    const queued = [...this.fresh, ...this.due.flatMap((batch) => batch.events)];
    this.fresh.length = 0;
    this.due.length = 0;
    if (queued.length === 0) return;
    this.dropped += queued.length;
    this.log("error", `${queued.length} event(s) dropped: ${reason}`, queued);
    this.settle(queued.length);
  }

  private settle(count: number): void {
    this.pendingCount -= count;
    if (this.pendingCount <= 0) {
      this.pendingCount = 0;
      this.releaseDrainWaiters();
    }
  }

  private releaseDrainWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private log(
    level: DeliveryLogEntry["level"],
    message: string,
    events?: readonly ManifestNotification[],
  ): void {
    try {
      this.options.log({
        level,
        message,
        endpoint: this.endpoint,
        subscription: this.options.protocol.kind,
        ...(events !== undefined ? { eventIds: events.map((event) => event.id) } : {}),
      });
    } catch {
      // A broken logger must not break delivery.
    }
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
