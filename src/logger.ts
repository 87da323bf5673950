/**
 * Structured JSON logs (pino). Tokens, secrets, assertions, cookies and authorization headers are
 * redacted by path so that no code path can leak them by logging a request or an error.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-ssl-client-cert"]',
  'res.headers["set-cookie"]',
  '*.password',
  '*.client_secret',
  '*.access_token',
  '*.refresh_token',
  '*.id_token',
  '*.client_assertion',
  '*.assertion',
  '*.code',
  '*.code_verifier',
  '*.token',
  '*.privateJwk',
  '*.d',
];

/** Creates the process logger. `destination` lets tests capture output. */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid, service: 'opendcr' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    // Synchronous writes: nothing we log is per-request hot, and no line may be lost at exit.
    destination ?? pino.destination({ sync: true }),
  );
}
