/**
 * How every acr-steward command talks to the terminal: aligned tables for people, one JSON document
 * for machines (`--json`: nothing else on stdout), progress that redraws one line on a TTY and falls
 * back to occasional plain lines otherwise. Diagnostics, progress and audit lines go to stderr.
 * Commands receive a `CliIo` so tests can capture everything.
 */
export interface OutputStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export interface CliIo {
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  /** Where confirmations are read from; `isTTY` false means nobody can answer. */
  readonly stdin: NodeJS.ReadableStream & { readonly isTTY?: boolean };
  /** Sets the process exit code (`exists` answers 1 for "no"). */
  setExitCode(code: number): void;
}

export function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    setExitCode: (code) => {
      process.exitCode = code;
    },
  };
}

export type Alignment = "left" | "right";

export interface Column<Row> {
  readonly header: string;
  readonly value: (row: Row) => string;
  readonly align?: Alignment;
}

/** An aligned table with a header line; columns separated by two spaces, no trailing blanks. */
export function renderTable<Row>(columns: readonly Column<Row>[], rows: readonly Row[]): string {
  const cells = rows.map((row) => columns.map((column) => sanitize(column.value(row))));
  const widths = columns.map((column, i) =>
    Math.max(displayWidth(column.header), ...cells.map((line) => displayWidth(line[i] ?? ""))),
  );
  const line = (values: readonly string[]) =>
    values
      .map((value, i) => {
        const pad = " ".repeat(Math.max(0, (widths[i] ?? 0) - displayWidth(value)));
        return columns[i]?.align === "right" ? pad + value : value + pad;
      })
      .join("  ")
      .trimEnd();
  return `${[line(columns.map((c) => c.header)), ...cells.map(line)].join("\n")}\n`;
}

/** A two-column "field  value" block (for `inspect`). */
export function renderFields(fields: readonly (readonly [string, string])[]): string {
  return renderTable<readonly [string, string]>(
    [
      { header: "FIELD", value: ([name]) => name },
      { header: "VALUE", value: ([, value]) => value },
    ],
    fields,
  );
}

/** Writes one JSON document (and only that) to stdout. Dates become ISO strings. */
export function writeJson(io: CliIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined) return "?";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value >= 100 ? 0 : 1)} ${units[unit]}`;
}

/** UTC, to the minute: stable across machines, sortable. */
export function formatTime(date: Date | undefined): string {
  if (date === undefined || Number.isNaN(date.getTime())) return "?";
  return `${date.toISOString().slice(0, 16).replace("T", " ")}Z`;
}

/** `sha256:0123456789ab` — enough to recognise a digest in a table; `--json` has the full value. */
export function shortDigest(digest: string): string {
  const colon = digest.indexOf(":");
  return colon < 0 ? digest : digest.slice(0, colon + 13);
}

export interface Progress {
  /** Updates the status (e.g. "listed 300 manifests"); cheap to call often. */
  update(status: string): void;
  /** Clears the TTY line (call before printing the result). */
  done(): void;
}

/**
 * On a TTY: one line on stderr rewritten in place (at most every 100 ms). Elsewhere: a plain line at
 * most every `plainIntervalMs` (CI logs stay readable), and nothing at all when `quiet`.
 */
export function createProgress(
  io: CliIo,
  label: string,
  options: { quiet?: boolean; plainIntervalMs?: number; now?: () => number } = {},
): Progress {
  const now = options.now ?? Date.now;
  const tty = io.stderr.isTTY === true;
  const interval = tty ? 100 : (options.plainIntervalMs ?? 5000);
  // Plain lines start after one interval: short commands print no progress at all.
  let last = tty ? Number.NEGATIVE_INFINITY : now();
  let shown = false;
  return {
    update(status) {
      if (options.quiet) return;
      const at = now();
      if (at - last < interval) return;
      last = at;
      if (tty) {
        const width = Math.max(20, (io.stderr.columns ?? 80) - 1);
        io.stderr.write(`\r\x1b[2K${`${label}: ${status}`.slice(0, width)}`);
        shown = true;
      } else {
        io.stderr.write(`${label}: ${status}\n`);
      }
    },
    done() {
      if (tty && shown) io.stderr.write("\r\x1b[2K");
      shown = false;
    },
  };
}

/** Control characters from registry data must not reach the terminal (names are untrusted input). */
function sanitize(value: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping them is the point
  return value.replace(/[\u0000-\u001f\u007f-\u009f]/g, "?");
}

function displayWidth(value: string): number {
  return [...value].length;
}
