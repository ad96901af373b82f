/**
 * Exit codes of `acr-steward`, documented in `acr-steward --help` and docs/operations.md.
 */
export const ExitCode = {
  /** The command did what was asked. */
  ok: 0,
  /** The command ran, and the answer is "no": `exists` found nothing, `replay` rejected some events. */
  negative: 1,
  /** The command could not run: bad flags or input, authentication, registry or storage errors. */
  error: 2,
  /** Interrupted by SIGINT. */
  interrupted: 130,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
