/**
 * Distinguished names as data, so `tls_client_auth_subject_dn` (RFC 8705 §2.1.2) is compared
 * by meaning and not by spelling: TPPs register the same DN as RFC 4514 text, OpenSSL's
 * one-line form, or copied from a certificate dump, with different spacing, case and order.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import type { X509Certificate } from 'node:crypto';

/** One attribute of an RDN. */
export interface DnAttribute {
  /** Attribute type as a dotted OID, aliases resolved (`CN` → `2.5.4.3`). */
  readonly type: string;
  /** The value as text (escapes removed; a `#hexstring` of a character string is decoded). */
  readonly value: string;
  /** Lower-case hex of the BER encoding when the value was written as `#hexstring`. */
  readonly ber?: string;
  /** True when `ber` is not a character string: `value` is then `#hex` and compared exactly. */
  readonly binary?: boolean;
}

/** A relative distinguished name: one or more attributes (`CN=a+UID=b` has two). */
export type Rdn = readonly DnAttribute[];

/** Thrown by {@link parseDn} for text that is not a distinguished name. */
export class DnParseError extends Error {
  readonly code = 'ERR_DN_PARSE';
  override name = 'DnParseError';
}

// Lower-case names → OIDs. RFC 4514 §3 / RFC 4519 names, plus what OpenSSL, Java and the
// OB directory print (organizationIdentifier, emailAddress, serialNumber, S for state).
const TYPE_OIDS: Record<string, string> = {
  cn: '2.5.4.3',
  commonname: '2.5.4.3',
  sn: '2.5.4.4',
  surname: '2.5.4.4',
  serialnumber: '2.5.4.5',
  c: '2.5.4.6',
  countryname: '2.5.4.6',
  l: '2.5.4.7',
  localityname: '2.5.4.7',
  st: '2.5.4.8',
  s: '2.5.4.8',
  stateorprovincename: '2.5.4.8',
  street: '2.5.4.9',
  streetaddress: '2.5.4.9',
  o: '2.5.4.10',
  organizationname: '2.5.4.10',
  ou: '2.5.4.11',
  organizationalunitname: '2.5.4.11',
  t: '2.5.4.12',
  title: '2.5.4.12',
  businesscategory: '2.5.4.15',
  postalcode: '2.5.4.17',
  gn: '2.5.4.42',
  givenname: '2.5.4.42',
  initials: '2.5.4.43',
  generationqualifier: '2.5.4.44',
  dnqualifier: '2.5.4.46',
  dnq: '2.5.4.46',
  pseudonym: '2.5.4.65',
  organizationidentifier: '2.5.4.97',
  dc: '0.9.2342.19200300.100.1.25',
  domaincomponent: '0.9.2342.19200300.100.1.25',
  uid: '0.9.2342.19200300.100.1.1',
  userid: '0.9.2342.19200300.100.1.1',
  emailaddress: '1.2.840.113549.1.9.1',
  email: '1.2.840.113549.1.9.1',
  e: '1.2.840.113549.1.9.1',
  jurisdictionc: '1.3.6.1.4.1.311.60.2.1.3',
  jurisdictioncountryname: '1.3.6.1.4.1.311.60.2.1.3',
  jurisdictionst: '1.3.6.1.4.1.311.60.2.1.2',
  jurisdictionstateorprovincename: '1.3.6.1.4.1.311.60.2.1.2',
  jurisdictionl: '1.3.6.1.4.1.311.60.2.1.1',
  jurisdictionlocalityname: '1.3.6.1.4.1.311.60.2.1.1',
};

// RFC 4514 §3: the only names a generic RFC 4514 reader must know; everything else prints as an OID.
const RFC4514_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.6': 'C',
  '2.5.4.9': 'STREET',
  '0.9.2342.19200300.100.1.25': 'DC',
  '0.9.2342.19200300.100.1.1': 'UID',
};

// The OID alternative first, or "OID.2.5.4.3" would stop after the keyword "OID".
const TYPE_AT_START = /^(?:(?:oid\.)?\d+(?:\.\d+)+|[A-Za-z][A-Za-z0-9-]*)/i;
const OID = /^[0-2](?:\.(?:0|[1-9]\d*))+$/;

/**
 * The OID of an attribute type name (case-insensitive) or of a dotted OID (`OID.` prefix allowed).
 * @throws {DnParseError} for an unknown name.
 */
export function attributeTypeOid(type: string): string {
  const bare = type.replace(/^oid\./i, '');
  if (OID.test(bare)) return bare;
  const oid = TYPE_OIDS[type.toLowerCase()];
  if (!oid) throw new DnParseError(`unknown attribute type "${type}"`);
  return oid;
}

/**
 * Parses a DN written as RFC 4514 (`CN=a,OU=b`, with `\,` `\2C` escapes, `+` multi-valued RDNs,
 * `#hexstring` BER values), OpenSSL one-line (`/C=GB/O=x/CN=y` or `C = GB, O = x`) or Node's
 * `X509Certificate.subject` (`C=GB\nO=x`) text.
 *
 * RDNs are returned in the order they are written: the text alone cannot tell RFC 4514 order
 * (most specific first) from certificate order (OpenSSL, Node).
 * @throws {DnParseError} when the text is not a distinguished name.
 */
export function parseDn(input: string): Rdn[] {
  const text = trimUnescaped(input);
  if (!text) throw new DnParseError('empty distinguished name');
  // OpenSSL -subj form: commas are ordinary characters and "+" only splits before "type=".
  if (text.startsWith('/')) return new DnReader(text.slice(1), '/', false).read();
  // Node's X509Certificate.subject: one RDN per line, values escaped as RFC 2253.
  if (/[\r\n]/.test(text)) return new DnReader(text.replace(/\r\n?/g, '\n'), '\n', true).read();
  // RFC 4514 (RFC 2253 also allowed ";" between RDNs), including OpenSSL's "C = GB, O = x".
  return new DnReader(text, ',;', true).read();
}

/**
 * True when both DNs hold the same multiset of (type OID, value) pairs, values compared as
 * LDAP caseIgnoreMatch (RFC 4518: NFKC, insignificant space, case folded).
 *
 * Order is ignored on purpose: TPPs register DNs both in RFC 4514 order (CN first) and in
 * certificate order (C first). Nothing is gained by reordering, since every attribute must
 * still match, and RDN grouping (`+` vs `,`) is ignored for the same reason.
 *
 * Returns false (never throws) when either side does not parse, so a bad registered value
 * fails closed at the token endpoint; validate it at registration with {@link parseDn}.
 */
export function dnEquals(a: string, b: string): boolean {
  let left: string[];
  let right: string[];
  try {
    left = comparisonKeys(parseDn(a));
    right = comparisonKeys(parseDn(b));
  } catch (err) {
    if (err instanceof DnParseError) return false;
    throw err;
  }
  return left.length === right.length && left.every((key, i) => key === right[i]);
}

/**
 * Formats RDNs as RFC 4514 text in the order given (pass the most specific RDN first).
 * Types outside RFC 4514 §3's table are written as dotted OIDs, but their values stay
 * readable text instead of `#hex`: this is for people, and {@link parseDn} reads both.
 */
export function formatDnRfc4514(rdns: readonly Rdn[]): string {
  return rdns
    .map((rdn) =>
      rdn
        .map((attr) => {
          const name = RFC4514_NAMES[attr.type] ?? attr.type;
          return `${name}=${attr.binary ? `#${attr.ber}` : escapeValue(attr.value)}`;
        })
        .join('+'),
    )
    .join(',');
}

/**
 * The certificate's subject as RFC 4514 text, most specific RDN first, e.g.
 * `CN=2kiX...,OU=0015800001HQQrZAAX,2.5.4.97=PSDGB-OB-...,O=OpenBanking,C=GB`.
 * Read from the DER rather than `cert.subject`, so every type and value survives as encoded.
 */
export function certificateSubjectDn(cert: X509Certificate): string {
  return formatDnRfc4514(certificateSubjectRdns(cert).reverse());
}

// Parsed subjects per certificate object: a keep-alive connection presents the same object on
// every request (http/client-cert.ts caches it per socket), and the ASN.1 parse is not cheap.
const subjectCache = new WeakMap<X509Certificate, Rdn[]>();

/** The certificate's subject RDNs in certificate (ASN.1) order: C first for OB certificates. */
export function certificateSubjectRdns(cert: X509Certificate): Rdn[] {
  let rdns = subjectCache.get(cert);
  if (!rdns) {
    rdns = parseCertificateSubject(cert);
    subjectCache.set(cert, rdns);
  }
  // A copy: callers may reorder it (certificateSubjectDn reverses).
  return rdns.slice();
}

function parseCertificateSubject(cert: X509Certificate): Rdn[] {
  return new x509.X509Certificate(cert.raw).subjectName.toJSON().map((rdn) =>
    Object.entries(rdn).flatMap(([name, values]) =>
      values.map((value) => {
        const type = PECULIAR_NAMES[name] ?? attributeTypeOid(name);
        // @peculiar/x509 writes values that are not DirectoryStrings as #hex of their BER.
        return value.startsWith('#') ? hexAttribute(type, value.slice(1).toLowerCase()) : { type, value };
      }),
    ),
  );
}

// @peculiar/x509's own short names that are not LDAP names.
const PECULIAR_NAMES: Record<string, string> = { G: '2.5.4.42', I: '2.5.4.43' };

// Like trim(), but "CN=a\\ " keeps its escaped trailing space.
function trimUnescaped(input: string): string {
  const text = input.trimStart();
  let end = text.length;
  while (end > 0 && /\s/.test(text[end - 1]!)) end--;
  let backslashes = 0;
  while (end - backslashes > 0 && text[end - backslashes - 1] === '\\') backslashes++;
  return text.slice(0, backslashes % 2 && end < text.length ? end + 1 : end);
}

function comparisonKeys(rdns: readonly Rdn[]): string[] {
  // "\0" keeps a binary value apart from the same characters typed as text.
  return rdns
    .flat()
    .map((a) => `${a.type}=${a.binary ? `\0${a.value}` : normaliseValue(a.value)}`)
    .sort();
}

function normaliseValue(value: string): string {
  return value.normalize('NFKC').trim().replace(/\s+/gu, ' ').toLowerCase().normalize('NFKC');
}

function hexAttribute(type: string, hex: string): DnAttribute {
  const text = decodeBerString(hex);
  return text === undefined ? { type, value: `#${hex}`, ber: hex, binary: true } : { type, value: text, ber: hex };
}

/** Decodes a BER character string (DirectoryString, IA5String, ...) or returns undefined. */
function decodeBerString(hex: string): string | undefined {
  const bytes = Buffer.from(hex, 'hex');
  if (bytes.length < 2) return undefined;
  let length = bytes[1]!;
  let offset = 2;
  if (length & 0x80) {
    const n = length & 0x7f;
    if (n === 0 || n > 3 || bytes.length < 2 + n) return undefined;
    length = bytes.subarray(2, 2 + n).reduce((acc, b) => acc * 256 + b, 0);
    offset = 2 + n;
  }
  if (offset + length !== bytes.length) return undefined;
  const content = bytes.subarray(offset);
  switch (bytes[0]) {
    case 0x0c:
      return decodeUtf8(content); // UTF8String
    case 0x12:
    case 0x13:
    case 0x16:
    case 0x1a: // Numeric, Printable, IA5, Visible
    case 0x14:
      return content.toString('latin1'); // TeletexString: latin1 is the usual reading
    case 0x1e:
      return content.length % 2 ? undefined : Buffer.from(content).swap16().toString('utf16le'); // BMPString
    case 0x1c: {
      // UniversalString (UCS-4 big-endian)
      if (content.length % 4) return undefined;
      let out = '';
      for (let i = 0; i < content.length; i += 4) out += String.fromCodePoint(content.readUInt32BE(i));
      return out;
    }
    default:
      return undefined;
  }
}

function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

function escapeValue(value: string): string {
  let out = value.replace(/["+,;<>\\]/g, '\\$&').replace(/[\u0000-\u001f\u007f]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0').toUpperCase()}`);
  if (out.startsWith('#') || out.startsWith(' ')) out = `\\${out}`;
  if (out.endsWith(' ') && !out.endsWith('\\ ')) out = `${out.slice(0, -1)}\\ `;
  return out;
}

/** A cursor over DN text; one instance per parse. */
class DnReader {
  private readonly text: string;
  private readonly separators: string;
  /** RFC 4514 rules: an unescaped "+" always splits, and "#" starts a BER value. */
  private readonly strict: boolean;
  private pos = 0;

  constructor(text: string, separators: string, strict: boolean) {
    this.text = text;
    this.separators = separators;
    this.strict = strict;
  }

  read(): Rdn[] {
    const rdns: Rdn[] = [];
    let rdn: DnAttribute[] = [];
    for (;;) {
      rdn.push(this.readAttribute());
      if (this.pos >= this.text.length) break;
      const sep = this.text[this.pos++];
      if (sep === '+') continue;
      rdns.push(rdn);
      rdn = [];
      // OpenSSL prints a trailing "/" now and then; nothing else may end on a separator.
      if (sep === '/' && this.pos >= this.text.length) return rdns;
    }
    rdns.push(rdn);
    return rdns;
  }

  private readAttribute(): DnAttribute {
    this.skipSpaces();
    const match = TYPE_AT_START.exec(this.text.slice(this.pos));
    if (!match) throw this.error('expected an attribute type');
    this.pos += match[0].length;
    const type = attributeTypeOid(match[0]);
    this.skipSpaces();
    if (this.text[this.pos] !== '=') throw this.error('expected "=" after the attribute type');
    this.pos++;
    this.skipSpaces();
    const c = this.text[this.pos];
    if (c === '#' && this.strict) return this.readHexValue(type);
    const value = c === '"' ? this.readQuotedValue() : this.readStringValue();
    return { type, value };
  }

  private readHexValue(type: string): DnAttribute {
    const match = /^#([0-9a-f]+)/i.exec(this.text.slice(this.pos));
    if (!match || match[1]!.length % 2) throw this.error('invalid #hexstring value');
    this.pos += match[0].length;
    this.expectEndOfValue();
    return hexAttribute(type, match[1]!.toLowerCase());
  }

  // RFC 2253 §4 allowed "quoted" values; RFC 4514 readers still meet them.
  private readQuotedValue(): string {
    this.pos++;
    const bytes: number[] = [];
    for (;;) {
      if (this.pos >= this.text.length) throw this.error('unterminated quoted value');
      const c = this.text[this.pos]!;
      if (c === '"') break;
      if (c === '\\') this.readEscape(bytes);
      else this.pushChar(bytes);
    }
    this.pos++;
    this.expectEndOfValue();
    return this.decode(bytes);
  }

  private readStringValue(): string {
    const bytes: number[] = [];
    let significant = 0; // bytes up to the last non-space or escaped character
    while (this.pos < this.text.length && !this.atValueEnd()) {
      if (this.text[this.pos] === '\\') {
        this.readEscape(bytes);
        significant = bytes.length;
      } else {
        const space = /\s/.test(this.text[this.pos]!);
        this.pushChar(bytes);
        if (!space) significant = bytes.length;
      }
    }
    return this.decode(bytes.slice(0, significant));
  }

  private atValueEnd(): boolean {
    const c = this.text[this.pos]!;
    if (this.separators.includes(c)) return true;
    if (c !== '+') return false;
    // OpenSSL slash form: "+" is a separator only when another "type=" follows.
    return this.strict || /^\s*(?:(?:oid\.)?\d+(?:\.\d+)+|[A-Za-z][A-Za-z0-9-]*)\s*=/i.test(this.text.slice(this.pos + 1));
  }

  private readEscape(bytes: number[]): void {
    const pair = this.text.slice(this.pos + 1, this.pos + 3);
    if (/^[0-9a-f]{2}$/i.test(pair)) {
      bytes.push(Number.parseInt(pair, 16)); // \XX escapes are UTF-8 bytes (RFC 4514 §2.4)
      this.pos += 3;
      return;
    }
    this.pos++;
    if (this.pos >= this.text.length) throw this.error('dangling "\\" at the end');
    this.pushChar(bytes);
  }

  private pushChar(bytes: number[]): void {
    const cp = this.text.codePointAt(this.pos)!;
    const char = String.fromCodePoint(cp);
    bytes.push(...Buffer.from(char, 'utf8'));
    this.pos += char.length;
  }

  private decode(bytes: number[]): string {
    const text = decodeUtf8(Uint8Array.from(bytes));
    if (text === undefined) throw this.error('escaped bytes are not valid UTF-8');
    return text;
  }

  private expectEndOfValue(): void {
    this.skipSpaces();
    if (this.pos < this.text.length && !this.atValueEnd()) throw this.error('unexpected text after the value');
  }

  private skipSpaces(): void {
    // Newline is a separator in Node's form, so only horizontal space is skipped.
    while (this.pos < this.text.length && /[ \t]/.test(this.text[this.pos]!)) this.pos++;
  }

  private error(message: string): DnParseError {
    return new DnParseError(`invalid distinguished name: ${message} at position ${this.pos}`);
  }
}
