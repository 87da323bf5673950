/**
 * Writes docs/errors.md from the error catalog (codes.ts), so the documented codes cannot drift
 * from the ones the server sends, audits and counts. `npm run docs:errors` regenerates it; a test
 * checks the committed file is current.
 */
import { ERRORS, ERROR_CODES } from './codes.ts';

export function errorsMarkdown(): string {
  const rows = ERROR_CODES.map((code) => {
    const e = ERRORS[code];
    return `| \`${code}\` | ${e.status} | \`${e.error}\` | ${e.summary.replace(/\|/g, '\\|')} |`;
  });
  return [
    '# Error codes',
    '',
    'Generated from `src/errors/codes.ts` by `npm run docs:errors`; do not edit by hand.',
    '',
    'Every error the server answers with has a stable code. The code is what the registration',
    'audit trail records for a rejection (`opendcr audit --code …`, `opendcr audit --by-code`), what',
    'the logs carry (`code`) and what the metrics count (`opendcr_dcr_requests_total{code}`,',
    '`opendcr_http_errors_total{code}`). It is not sent to TPPs: OAuth and DCR answers keep their',
    'standard shape, `{"error": <wire error>, "error_description": …}` (RFC 6749 §5.2, RFC 7591',
    '§3.2.2); the admin APIs answer `{"code", "message", "traceId"}`. Codes are never renamed or reused.',
    '',
    '| code | status | wire error | meaning |',
    '| --- | --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}

if (import.meta.main) {
  const { writeFileSync, mkdirSync } = await import('node:fs');
  mkdirSync(new URL('../../docs/', import.meta.url), { recursive: true });
  writeFileSync(new URL('../../docs/errors.md', import.meta.url), errorsMarkdown());
}
