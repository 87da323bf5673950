/**
 * Structured JSON logs (pino). Tokens, secrets, assertions, cookies and authorization headers are
 * redacted by path so that no code path can leak them by logging a request or an error. A line
 * written while a request is being handled carries its ids (http/front.ts).
 */
import { pino, type Logger } from 'pino';
import { currentRequest, requestLogFields } from './http/front.ts';

export type { Logger };

// Secret-bearing fields, wherever they appear: at the top of a log object and one level down.
const SECRET_FIELDS = [
  'password', 'client_secret', 'access_token', 'refresh_token', 'id_token', 'client_assertion', 'assertion',
  'code_verifier', 'token', 'privateJwk', 'd', 'authorization', 'cookie',
];

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-ssl-client-cert"]',
  'res.headers["set-cookie"]',
  // An authorization code: one level down only (a top-level `code` is our error code).
  '*.code',
  ...SECRET_FIELDS,
  ...SECRET_FIELDS.map((f) => `*.${f}`),
];

/**
 * The access logger of a process logger: the same output and request ids, but no redaction. The
 * front builds its lines from fields it chose (never a header, body or token), and redaction would
 * cost a token request about 20 µs (bench/front.ts).
 */
export function accessLogger(logger: Logger): Logger {
  return logger.child({ component: 'access' }, { redact: { paths: [], censor: '[redacted]' } } as never);
}

/** Creates the process logger. `destination` lets tests capture output. */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid, service: 'opendcr' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // Every line written while a request is handled names it: request, interaction and trace ids.
      mixin: () => requestLogFields(currentRequest()),
    },
    // Synchronous writes: nothing we log is per-request hot, and no line may be lost at exit.
    destination ?? pino.destination({ sync: true }),
  );
}
