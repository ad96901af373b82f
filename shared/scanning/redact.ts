/**
 * Scrubs secrets out of text we did not write (Trivy's stderr, its report) before it reaches an
 * outcome, a log line or storage. The known secrets are replaced wherever they occur; token-shaped
 * strings (JWTs, which is what ACR refresh and access tokens are, and Authorization values) are
 * replaced too, in case Trivy prints a token it derived from ours.
 */

export const REDACTED = "[REDACTED]";

const TOKEN_REPLACEMENTS: readonly (readonly [RegExp, string])[] = [
  // JWT: three base64url segments, the first starting with the encoding of '{"'.
  [/eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g, REDACTED],
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi, `$1 ${REDACTED}`],
  [
    /\b(password|passwd|refresh_token|access_token|registry[_-]?token|client_secret)(["']?\s*[=:]\s*["']?)[^\s&"',;]+/gi,
    `$1$2${REDACTED}`,
  ],
];

export interface RedactOptions {
  /**
   * Also replace token-shaped text (default true). Off for Trivy reports: their CVE descriptions and
   * secret-scan context may legitimately contain such text, and only our own secrets must go.
   */
  readonly tokenPatterns?: boolean;
}

export function redactSecrets(
  text: string,
  secrets: readonly string[] = [],
  options: RedactOptions = {},
): string {
  let out = text;
  // Longest first, so a secret that contains another is replaced whole.
  for (const secret of [...new Set(secrets)].filter((s) => s !== "").sort((a, b) => b.length - a.length)) {
    out = out.split(secret).join(REDACTED);
  }
  if (options.tokenPatterns === false) return out;
  for (const [pattern, replacement] of TOKEN_REPLACEMENTS) out = out.replace(pattern, replacement);
  return out;
}

/** The forms a password takes on the wire too: Basic auth carries base64("user:password"). */
export function secretVariants(credentials: { username: string; password: string } | null): string[] {
  if (credentials === null || credentials.password === "") return [];
  const basic = Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64");
  return [credentials.password, basic, encodeURIComponent(credentials.password)];
}
