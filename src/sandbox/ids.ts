/**
 * Identifiers shaped like the OB Directory's: organisation ids are 18-character Salesforce ids
 * (`0015800001HQQrZAAX`), software ids 22-character base62 strings.
 */
import { randomBytes } from 'node:crypto';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
// The OB directory's account ids share this prefix (Salesforce key prefix 001 + org/pod digits).
const ORG_ID_PREFIX = '0015800001';

/** `length` characters drawn uniformly from [0-9A-Za-z]. */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      // 248 = 4 × 62: dropping larger bytes keeps every character equally likely.
      if (byte < 248 && out.length < length) out += BASE62[byte % 62];
    }
  }
  return out;
}

/** A new organisation id: 15 characters plus Salesforce's 3-character case checksum. */
export function newOrgId(): string {
  const id15 = ORG_ID_PREFIX + randomBase62(5);
  return id15 + salesforceChecksum(id15);
}

/** A new software id (also used as software_client_id). */
export function newSoftwareId(): string {
  return randomBase62(22);
}

// Salesforce's 15 → 18 character suffix: per 5-character chunk, a bit per upper-case letter.
function salesforceChecksum(id15: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345';
  let out = '';
  for (let chunk = 0; chunk < 3; chunk++) {
    let bits = 0;
    for (let i = 0; i < 5; i++) if (/[A-Z]/.test(id15[chunk * 5 + i]!)) bits |= 1 << i;
    out += alphabet[bits];
  }
  return out;
}

const ID = /^[0-9A-Za-z]+$/;

/** Checks a caller-chosen id: it ends up in URL paths and certificate subjects. */
export function checkId(value: string, what: string, maxLength: number): string {
  if (!ID.test(value) || value.length > maxLength) throw new TypeError(`${what} must be 1 to ${maxLength} letters or digits`);
  return value;
}
