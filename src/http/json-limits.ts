/**
 * Bounds on JSON we did not write, checked before any parser or library sees it. JSON.parse
 * itself copes with deep nesting, but what comes after often recurses (structuredClone,
 * JSON.stringify, schema walkers): a 10,000-deep array in a signed client assertion overflowed
 * the stack inside oidc-provider. Real Open Banking JSON (claims, key sets, request objects,
 * metadata) nests four or five levels; anything deeper than MAX_JSON_DEPTH is refused.
 */

/** Deepest array/object nesting accepted in JSON from outside. */
export const MAX_JSON_DEPTH = 32;

/**
 * True when `text` nests arrays or objects more than `maxDepth` deep. A linear scan with no
 * recursion and no allocation: brackets inside strings (and escaped quotes) are skipped. It does
 * not validate the JSON; the parser does that afterwards.
 */
export function jsonTooDeep(text: string, maxDepth: number = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}

const SEGMENT = /^[A-Za-z0-9_-]*$/;

/** The compact JWS/JWE segments of `value` when it has that shape (3 or 5 base64url parts), else undefined. */
export function compactJoseSegments(value: string): string[] | undefined {
  const parts = value.split('.');
  if (parts.length !== 3 && parts.length !== 5) return undefined;
  return parts.every((p) => SEGMENT.test(p)) ? parts : undefined;
}

/**
 * True when a compact JWS or JWE carries JSON nested deeper than `maxDepth` in its header or
 * (for a JWS) its payload. Values that are not compact JOSE are not its business.
 */
export function joseTooDeep(value: string, maxDepth: number = MAX_JSON_DEPTH): boolean {
  const parts = compactJoseSegments(value);
  if (!parts) return false;
  // A JWE's second part is the encrypted key, not JSON; a JWS's is the payload.
  const json = parts.length === 3 ? [parts[0]!, parts[1]!] : [parts[0]!];
  return json.some((p) => jsonTooDeep(Buffer.from(p, 'base64url').toString('utf8'), maxDepth));
}
