/**
 * A sandbox TPP enrolled in a {@link SandboxDirectory}: organisation and software ids, an OB
 * transport certificate, a PS256 request-signing key, its software JWKS (and revoked list), and
 * software statements (SSAs) signed by the directory with every OB Directory claim
 * (docs/dcr.md#software-statement-claims).
 */
import { createPrivateKey, createPublicKey, generateKeyPair, randomUUID } from 'node:crypto';
import type { JsonWebKey, KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { calculateJwkThumbprint } from 'jose';
import type { JSONWebKeySet, JWK } from 'jose';
import { issueClientCertificate } from '../crypto/pki.ts';
import type { IssuedCertificate } from '../crypto/pki.ts';
import { certificateFromJson, certificateJwk, certificateToJson, escapeDnValue, x5t } from './certificates.ts';
import type { CertificateJson } from './certificates.ts';
import type { SandboxDirectory } from './directory.ts';
import { checkId, newOrgId, newSoftwareId } from './ids.ts';
import { signJws } from './jws.ts';
import { THIRD_PARTY_ROLES, type ThirdPartyRole } from '../ob/roles.ts';
import type { SignOptions, SigningKeyInput } from './jws.ts';

export type SandboxRole = ThirdPartyRole;
export type SoftwareEnvironment = 'sandbox' | 'production';

export interface OrgContact {
  readonly name: string;
  readonly email: string;
  readonly phone: string;
  readonly type: string;
}

/** The claims of an OB Directory SSA. */
export interface SoftwareStatementClaims {
  iss: string;
  iat: number;
  jti: string;
  software_environment: string;
  software_mode: string;
  software_id: string;
  software_client_id: string;
  software_client_name: string;
  software_client_description: string;
  software_version: string | number;
  software_client_uri: string;
  software_redirect_uris: string[];
  software_roles: string[];
  organisation_competent_authority_claims: {
    authority_id: string;
    registration_id: string;
    status: string;
    authorisations: { member_state: string; roles: string[] }[];
  };
  software_logo_uri: string;
  org_status: string;
  org_id: string;
  org_name: string;
  org_contacts: OrgContact[];
  org_jwks_endpoint: string;
  org_jwks_revoked_endpoint: string;
  software_jwks_endpoint: string;
  software_jwks_revoked_endpoint: string;
  software_policy_uri: string;
  software_tos_uri: string;
  software_on_behalf_of_org: string;
}

/** Claim overrides: a value replaces the default, `undefined` removes the claim, unknown claims are added. */
export type SsaOverrides = { [K in keyof SoftwareStatementClaims]?: SoftwareStatementClaims[K] | undefined } & Record<string, unknown>;

export interface SandboxTppOptions {
  /** Legal name: certificate O, org_name, software_client_name (first 40 characters). */
  readonly name: string;
  readonly roles: readonly SandboxRole[];
  /** software_redirect_uris; the first one's origin also hosts the client, logo, policy and ToS URIs. */
  readonly redirectUris: readonly string[];
  /** Base URL of the JWKS host, e.g. `https://127.0.0.1:8443` (see host.ts). */
  readonly jwksBaseUrl: string;
  readonly environment?: SoftwareEnvironment;
  /** Default: a new 18-character id like `0015800001HQQrZAAX`. */
  readonly orgId?: string;
  /** Default: a new 22-character base62 id. */
  readonly softwareId?: string;
  /** Start of certificate validity; default now. */
  readonly now?: Date;
  /** Clock for `iat`/`exp`, milliseconds; default `Date.now`. Not serialised. */
  readonly clock?: () => number;
}

export interface SandboxTpp {
  readonly name: string;
  readonly orgId: string;
  readonly softwareId: string;
  readonly roles: readonly SandboxRole[];
  readonly redirectUris: readonly string[];
  readonly environment: SoftwareEnvironment;
  readonly jwksBaseUrl: string;
  /**
   * OB transport certificate (RSA, clientAuth), issued by the directory's issuing CA, subject
   * `C=GB, O=<name>, 2.5.4.97=PSDGB-OB-Unknown<orgId>, OU=<orgId>, CN=<softwareId>`.
   */
  readonly transport: IssuedCertificate;
  /** The request-signing key (RSA 2048); kid is its RFC 7638 thumbprint. */
  readonly signingKey: { readonly alg: 'PS256'; readonly kid: string; readonly key: KeyObject; readonly publicJwk: JWK };
  /** Published at `software_jwks_endpoint`: the signing key (`use: sig`) and transport certificate (`use: tls`). */
  readonly softwareJwks: JSONWebKeySet;
  /** Published at `software_jwks_revoked_endpoint`. */
  readonly revokedJwks: JSONWebKeySet;
  /** Organisation-level keys (`org_jwks_endpoint`); empty, as a TPP without OBWAC/OBSeal certificates has. */
  readonly orgJwks: JSONWebKeySet;
  readonly orgRevokedJwks: JSONWebKeySet;
  /** The SSA claims except the per-SSA `iat` and `jti`. */
  readonly ssaClaims: Omit<SoftwareStatementClaims, 'iat' | 'jti'>;
  /** An SSA signed by the directory (PS256, `typ: JWT`, directory kid). */
  mintSsa(
    overrides?: SsaOverrides,
    opts?: { alg?: string; kid?: string | null; signingKey?: SigningKeyInput; header?: Record<string, unknown> },
  ): Promise<string>;
  /**
   * A registration request JWT signed with the TPP key (PS256, its kid). `iss` (software id),
   * `iat`, `exp` (+5 min) and `jti` are filled in unless `claims` sets them; `undefined` removes one.
   */
  signRequest(claims: Record<string, unknown>, opts?: SignOptions): Promise<string>;
  /** Moves the key with this kid from the software JWKS to the revoked JWKS. */
  revokeKey(kid: string): void;
  toJSON(): SandboxTppJson;
}

/** Serialised TPP; the signing key is a private JWK, the transport key PKCS#8 PEM. */
export interface SandboxTppJson {
  readonly version: 1;
  readonly name: string;
  readonly orgId: string;
  readonly softwareId: string;
  readonly roles: readonly SandboxRole[];
  readonly redirectUris: readonly string[];
  readonly environment: SoftwareEnvironment;
  readonly jwksBaseUrl: string;
  readonly transport: CertificateJson;
  readonly signingKey: { readonly kid: string; readonly privateJwk: JWK };
  readonly softwareJwks: JSONWebKeySet;
  readonly revokedJwks: JSONWebKeySet;
}

const ROLES: readonly string[] = THIRD_PARTY_ROLES;

/** Enrols a new TPP in `directory`: ids, transport certificate and signing key. */
export async function createSandboxTpp(directory: SandboxDirectory, opts: SandboxTppOptions): Promise<SandboxTpp> {
  const orgId = opts.orgId === undefined ? newOrgId() : checkId(opts.orgId, 'orgId', 35);
  const softwareId = opts.softwareId === undefined ? newSoftwareId() : checkId(opts.softwareId, 'softwareId', 40);
  const profile = checkProfile({ ...opts, orgId, softwareId, environment: opts.environment ?? 'sandbox' });
  const transport = await issueClientCertificate(directory.issuingCa, {
    subject: `C=GB, O=${escapeDnValue(profile.name)}, 2.5.4.97=PSDGB-OB-Unknown${orgId}, OU=${orgId}, CN=${softwareId}`,
    validityDays: 730,
    keyType: 'rsa',
    now: opts.now,
  });
  const { privateKey } = await promisify(generateKeyPair)('rsa', { modulusLength: 2048 });
  const publicJwk = await signingJwk(privateKey);
  const softwareJwks = { keys: [publicJwk, certificateJwk(transport, 'tls', x5t(transport.x509))] };
  return build(directory, profile, transport, privateKey, String(publicJwk.kid), softwareJwks, { keys: [] }, opts.clock);
}

/**
 * Rebuilds a TPP from {@link SandboxTpp.toJSON} output (parsed JSON) for `directory`.
 * @throws {TypeError} when the value is not a serialised TPP.
 */
export function loadSandboxTpp(directory: SandboxDirectory, json: unknown, opts: { clock?: () => number } = {}): SandboxTpp {
  const value = json as Partial<SandboxTppJson> | null;
  if (value?.version !== 1) throw new TypeError('not a serialised sandbox TPP (version 1)');
  const profile = checkProfile({
    name: String(value.name),
    orgId: checkId(String(value.orgId), 'orgId', 35),
    softwareId: checkId(String(value.softwareId), 'softwareId', 40),
    roles: value.roles ?? [],
    redirectUris: value.redirectUris ?? [],
    environment: value.environment ?? 'sandbox',
    jwksBaseUrl: String(value.jwksBaseUrl),
  });
  const transport = certificateFromJson(value.transport, 'sandbox TPP: transport');
  const signing = value.signingKey;
  if (typeof signing?.kid !== 'string' || typeof signing.privateJwk !== 'object') throw new TypeError('sandbox TPP: signingKey must have kid and privateJwk');
  if (!isKeySet(value.softwareJwks) || !isKeySet(value.revokedJwks)) throw new TypeError('sandbox TPP: softwareJwks and revokedJwks must be key sets');
  const key = createPrivateKey({ key: signing.privateJwk as JsonWebKey, format: 'jwk' });
  return build(directory, profile, transport, key, signing.kid, value.softwareJwks, value.revokedJwks, opts.clock);
}

interface Profile {
  readonly name: string;
  readonly orgId: string;
  readonly softwareId: string;
  readonly roles: readonly SandboxRole[];
  readonly redirectUris: readonly string[];
  readonly environment: SoftwareEnvironment;
  readonly jwksBaseUrl: string;
}

function checkProfile(p: Profile): Profile {
  if (!p.name.trim() || p.name.length > 140) throw new TypeError('name must be 1 to 140 characters (org_name is Max140Text)');
  if (p.roles.length === 0 || p.roles.some((r) => !ROLES.includes(r))) throw new TypeError('roles must be a non-empty list of AISP, PISP, CBPII');
  if (p.redirectUris.length === 0) throw new TypeError('redirectUris must not be empty');
  for (const uri of p.redirectUris) if (!URL.canParse(uri)) throw new TypeError(`redirect URI "${uri}" is not a URL`);
  if (p.environment !== 'sandbox' && p.environment !== 'production') throw new TypeError('environment must be sandbox or production');
  if (!URL.canParse(p.jwksBaseUrl)) throw new TypeError('jwksBaseUrl must be a URL');
  return { ...p, roles: [...p.roles], redirectUris: [...p.redirectUris], jwksBaseUrl: p.jwksBaseUrl.replace(/\/+$/, '') };
}

async function signingJwk(key: KeyObject): Promise<JWK> {
  const jwk = createPublicKey(key).export({ format: 'jwk' }) as JWK;
  const kid = await calculateJwkThumbprint(jwk);
  return { ...jwk, kid, use: 'sig', alg: 'PS256' };
}

function ssaClaimsOf(directory: SandboxDirectory, p: Profile): Omit<SoftwareStatementClaims, 'iat' | 'jti'> {
  const site = new URL(p.redirectUris[0]!);
  const base = `${p.jwksBaseUrl}/${p.orgId}`;
  return {
    iss: directory.issuer,
    software_environment: p.environment,
    software_mode: p.environment === 'production' ? 'Live' : 'Test',
    software_id: p.softwareId,
    software_client_id: p.softwareId,
    software_client_name: p.name.slice(0, 40),
    software_client_description: `${p.name} (OpenDCR sandbox software)`.slice(0, 256),
    software_version: '1.0',
    software_client_uri: `${site.origin}/`,
    software_redirect_uris: [...p.redirectUris],
    software_roles: [...p.roles],
    // The NCA id and registration id mirror the certificate's organizationIdentifier PSDGB-OB-Unknown<orgId>.
    organisation_competent_authority_claims: {
      authority_id: 'OBGBR',
      registration_id: `Unknown${p.orgId}`,
      status: 'Active',
      authorisations: [{ member_state: 'GB', roles: [...p.roles] }],
    },
    software_logo_uri: `${site.origin}/logo.png`,
    org_status: 'Active',
    org_id: p.orgId,
    org_name: p.name,
    org_contacts: [
      { name: 'Business contact', email: `business@${site.hostname}`, phone: '+441234567890', type: 'Business' },
      { name: 'Technical contact', email: `technical@${site.hostname}`, phone: '+441234567890', type: 'Technical' },
    ],
    org_jwks_endpoint: `${base}/${p.orgId}.jwks`,
    org_jwks_revoked_endpoint: `${base}/revoked/${p.orgId}.jwks`,
    software_jwks_endpoint: `${base}/${p.softwareId}.jwks`,
    software_jwks_revoked_endpoint: `${base}/revoked/${p.softwareId}.jwks`,
    software_policy_uri: `${site.origin}/policy`,
    software_tos_uri: `${site.origin}/tos`,
    software_on_behalf_of_org: '',
  };
}

function build(
  directory: SandboxDirectory,
  p: Profile,
  transport: IssuedCertificate,
  key: KeyObject,
  kid: string,
  initialJwks: JSONWebKeySet,
  initialRevoked: JSONWebKeySet,
  clock: () => number = Date.now,
): SandboxTpp {
  if (key.asymmetricKeyType !== 'rsa') throw new TypeError('the TPP signing key must be RSA');
  const software: JWK[] = structuredClone(initialJwks.keys);
  const revoked: JWK[] = structuredClone(initialRevoked.keys);
  const publicJwk = [...software, ...revoked].find((k) => k.kid === kid && k.use === 'sig');
  if (!publicJwk) throw new TypeError('the signing key is in neither the software nor the revoked JWKS');
  const claims = ssaClaimsOf(directory, p);
  const seconds = () => Math.floor(clock() / 1000);
  return {
    ...p,
    transport,
    signingKey: { alg: 'PS256', kid, key, publicJwk: structuredClone(publicJwk) },
    get softwareJwks() {
      return { keys: structuredClone(software) };
    },
    get revokedJwks() {
      return { keys: structuredClone(revoked) };
    },
    get orgJwks() {
      return { keys: [] };
    },
    get orgRevokedJwks() {
      return { keys: [] };
    },
    get ssaClaims() {
      return structuredClone(claims);
    },
    mintSsa(overrides = {}, opts = {}) {
      const payload = { ...structuredClone(claims), iat: seconds(), jti: randomUUID(), ...overrides };
      return directory.sign(payload, { alg: opts.alg, kid: opts.kid, key: opts.signingKey, header: opts.header });
    },
    signRequest(requestClaims, opts) {
      const now = seconds();
      const payload = { iss: p.softwareId, iat: now, exp: now + 300, jti: randomUUID(), ...requestClaims };
      return signJws(payload, { alg: 'PS256', kid, key }, opts);
    },
    revokeKey(revokedKid) {
      const index = software.findIndex((k) => k.kid === revokedKid);
      if (index < 0) throw new TypeError(`no key with kid "${revokedKid}" in the software JWKS`);
      revoked.push(...software.splice(index, 1));
    },
    toJSON: () => ({
      version: 1,
      name: p.name,
      orgId: p.orgId,
      softwareId: p.softwareId,
      roles: [...p.roles],
      redirectUris: [...p.redirectUris],
      environment: p.environment,
      jwksBaseUrl: p.jwksBaseUrl,
      transport: certificateToJson(transport),
      signingKey: { kid, privateJwk: key.export({ format: 'jwk' }) as JWK },
      softwareJwks: { keys: structuredClone(software) },
      revokedJwks: { keys: structuredClone(revoked) },
    }),
  };
}

function isKeySet(value: unknown): value is JSONWebKeySet {
  return typeof value === 'object' && value !== null && Array.isArray((value as { keys?: unknown }).keys);
}

export interface ReissueOptions {
  /** New base URL of the key sets (the TPP's SSA endpoints); default the current one. */
  readonly jwksBaseUrl?: string;
  /** Also a new request-signing key and transport certificate (same subject); revoked keys stay revoked. */
  readonly newKeys?: boolean;
  /** Start of the new certificate's validity; default now. */
  readonly now?: Date;
}

/**
 * The same TPP (ids, name, roles, redirect URIs) with its key set URLs moved to `jwksBaseUrl`
 * and, with `newKeys`, a fresh signing key and transport certificate. The old signing key leaves
 * the software JWKS (it stays on the revoked list if it was revoked there).
 */
export async function reissueSandboxTpp(directory: SandboxDirectory, tpp: SandboxTpp, opts: ReissueOptions = {}): Promise<SandboxTpp> {
  const jwksBaseUrl = opts.jwksBaseUrl ?? tpp.jwksBaseUrl;
  if (!opts.newKeys) return loadSandboxTpp(directory, { ...tpp.toJSON(), jwksBaseUrl });
  const fresh = await createSandboxTpp(directory, {
    name: tpp.name,
    roles: tpp.roles,
    redirectUris: tpp.redirectUris,
    environment: tpp.environment,
    jwksBaseUrl,
    orgId: tpp.orgId,
    softwareId: tpp.softwareId,
    ...(opts.now ? { now: opts.now } : {}),
  });
  return loadSandboxTpp(directory, { ...fresh.toJSON(), revokedJwks: tpp.revokedJwks });
}
