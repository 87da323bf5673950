/** Parses an admin API body with a zod schema; the first problem becomes MALFORMED_REQUEST (or `code`), naming the field. */
import type { z } from 'zod';
import { fail } from '../errors/app-error.ts';
import type { ErrorCode } from '../errors/codes.ts';

export function parseBody<T>(schema: z.ZodType<T>, body: unknown, code: ErrorCode = 'MALFORMED_REQUEST'): T {
  const r = schema.safeParse(body);
  if (!r.success) {
    const i = r.error.issues[0]!;
    const where = i.path.length ? `"${i.path.join('.')}"` : 'body';
    throw fail(code, i.code === 'unrecognized_keys' ? `unknown field ${i.keys.map((k) => `"${k.slice(0, 64)}"`).join(', ')}` : `${where}: ${i.message}`);
  }
  return r.data;
}
