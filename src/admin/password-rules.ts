/**
 * What makes an administrator password too weak for production: shorter than 12 characters, the
 * user name, or a well-known default, each in any variant a person would type (casing,
 * whitespace, separators, look-alike digits, a number or symbol added at the end, repeated).
 * `opendcr config check` and start refuse such a [super_admin] password; for [[admin.users]],
 * whose passwords are only configured as scrypt hashes, start tries the user name and the
 * commonest defaults against each hash (the length cannot be seen in a hash:
 * `opendcr admin hash-password` applies these rules before it hashes).
 */
import { verifyPassword } from './passwords.ts';

export const MIN_PASSWORD_LENGTH = 12;

/** Passwords shipped by products, written in guides and tried first by every attacker. */
export const DEFAULT_PASSWORDS = [
  'admin',
  'administrator',
  'password',
  'changeme',
  'changeit',
  'secret',
  'opendcr',
  'letmein',
  'welcome',
  'default',
  'root',
  'superadmin',
  'qwerty',
  'abc123',
  '123456',
  '1234567890',
  'passw0rd',
  'test',
] as const;

/** Tried against every [[admin.users]] hash at start: each try costs one scrypt (tens of milliseconds). */
export const HASH_CANDIDATES = ['admin', 'password', 'changeme'] as const;

const LOOK_ALIKES: Record<string, string> = { '0': 'o', '1': 'i', '3': 'e', '4': 'a', '5': 's', '7': 't', '@': 'a', $: 's', '!': 'i' };

/**
 * The words a variant may stand for: case folded, without whitespace or separators, look-alikes
 * mapped; as written, without trailing symbols, and without trailing digits and symbols.
 */
function cores(value: string): string[] {
  const folded = value
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[\s\u200b-\u200d\u2060\ufeff._\-+*~'"`]+/gu, '');
  const forms = [folded, folded.replace(/[^\p{L}\p{N}]+$/u, ''), folded.replace(/[^\p{L}]+$/u, '')];
  return [...new Set(forms.filter(Boolean).map((f) => [...f].map((c) => LOOK_ALIKES[c] ?? c).join('')))];
}

/** True when `word` is `unit` written once or more in a row. */
const repeats = (word: string, unit: string) =>
  unit.length > 0 && word.length >= unit.length && word.length % unit.length === 0 && unit.repeat(word.length / unit.length) === word;
const variantOf = (value: string, unit: string) => cores(value).some((w) => repeats(w, unit));

/** Each default with the word its variants stand for. */
const DEFAULT_WORDS = DEFAULT_PASSWORDS.map((d) => [d, cores(d)[0]!] as const);

/** Why `password` is too weak for an account named `username`, or undefined when it is not. */
export function whyWeak(password: string, username?: string): string | undefined {
  const hit = DEFAULT_WORDS.find(([, word]) => variantOf(password, word));
  if (hit !== undefined) return `is a variant of the well-known default password "${hit[0]}"`;
  if (username !== undefined && cores(username).some((u) => variantOf(password, u))) return 'is the user name';
  if ([...password.trim()].length < MIN_PASSWORD_LENGTH) return `is shorter than ${MIN_PASSWORD_LENGTH} characters`;
  return undefined;
}

/** Why the password behind `hash` is too weak (it is the user name or a common default), or undefined. */
export async function whyWeakHash(hash: string, username: string): Promise<string | undefined> {
  const tries: Array<[string, string]> = [
    [username, 'is the user name'],
    ...HASH_CANDIDATES.map((c): [string, string] => [c, `is the well-known default password "${c}"`]),
  ];
  const hits = await Promise.all(tries.map(([candidate]) => verifyPassword(candidate, hash)));
  const i = hits.indexOf(true);
  return i === -1 ? undefined : tries[i]![1];
}
