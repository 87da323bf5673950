/**
 * Structured JSON logs (pino). Tokens, secrets, assertions, cookies and authorization headers are
 * redacted by path so that no code path can leak them by logging a request or an error. A line
 * written while a request is being handled carries its ids: the logger is handed a getter of the
 * current request's log fields (the request front's, http/front.ts), and knows nothing of requests.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

// Secret-bearing fields, wherever they appear: at the top of a log object and one level down.
const SECRET_FIELDS = [
  'password',
  'client_secret',
  'access_token',
  'refresh_token',
  'id_token',
  'client_assertion',
  'assertion',
  'code_verifier',
  'token',
  'privateJwk',
  'd',
  'authorization',
  'cookie',
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

// A process logger writing to standard output keeps its buffered access log here (see accessLogger).
const accessLoggers = new WeakMap<Logger, Logger>();

/** The fields every line written now carries (the request being handled: its ids), or none. */
export type LogContext = () => Record<string, string>;
const noContext: LogContext = () => ({});

const options = (level: string, context: LogContext) => ({
  level,
  base: { pid: process.pid, service: 'opendcr' },
  timestamp: pino.stdTimeFunctions.isoTime,
  formatters: { level: (label: string) => ({ level: label }) },
  // Every line written while a request is handled names it: request, interaction and trace ids.
  mixin: context,
});

/**
 * The access logger of a process logger: the same output and request ids, but no redaction. The
 * front builds its lines from fields it chose (never a header, body or token), and redaction would
 * cost a token request about 20 µs (bench/front.ts). On standard output the access lines are
 * buffered (4 KiB, flushed at exit and every second): one write per line cost a gateway call 15 %
 * of its CPU (bench/README.md). A kill -9 may lose the last second of access lines, never a
 * line of the application log, which stays synchronous.
 */
export function accessLogger(logger: Logger): Logger {
  return accessLoggers.get(logger) ?? logger.child({ component: 'access' }, { redact: { paths: [], censor: '[redacted]' } } as never);
}

/**
 * Creates the process logger. `destination` lets tests capture output (the access log then shares
 * it, unbuffered); `context` gives the fields of the request being handled (http/front.ts).
 */
export function createLogger(level: string, destination?: NodeJS.WritableStream, context: LogContext = noContext): Logger {
  const logger = pino(
    { ...options(level, context), redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
    // Synchronous writes: the application log is not per-request hot, and no line may be lost.
    destination ?? pino.destination({ sync: true }),
  );
  if (destination === undefined) {
    const buffered = pino.destination({ sync: false, minLength: 4096 });
    const flush = setInterval(() => buffered.flush(), 1000);
    flush.unref();
    process.once('exit', () => {
      try {
        buffered.flushSync();
      } catch {
        /* the stream is gone */
      }
    });
    accessLoggers.set(logger, pino({ ...options(level, context), base: { pid: process.pid, service: 'opendcr', component: 'access' } }, buffered));
  }
  return logger;
}
