/**
 * The single source of configuration defaults and documentation.
 *
 * Section and key names follow WSO2's deployment.toml where WSO2 has a key for the same thing
 * (`[server] hostname`, `[super_admin]`, `[truststore]`, `[apimgt.mutual_ssl] client_certificate_header`,
 * `[oauth.token_renewal] renew_refresh_token`, `[open_banking.dcr] jwks_url_sandbox`), so a WSO2
 * operator recognises them. Every field carries `.describe()`; `docs/configuration.md` is written from it.
 */
import { z } from 'zod';
import { proxyEntryError } from '../http/trusted-peer.ts';

const seconds = (def: number, what: string) => z.number().int().positive().default(def).describe(`${what} (seconds)`);

// FAPI 1.0 Advanced §8.6: PS256 or ES256 only (RS256 is not allowed).
const signingAlg = z.enum(['PS256', 'ES256']);

export const serverSchema = z.strictObject({
  mode: z
    .enum(['sandbox', 'production'])
    .default('sandbox')
    .describe(
      '"sandbox" generates a development CA, TLS certificate and demo PSU users; "production" requires real certificates and disables every sandbox feature',
    ),
  hostname: z.string().min(1).default('localhost').describe('Public host name of this server, used in the issuer and in generated certificates'),
  bind_address: z.string().min(1).default('127.0.0.1').describe('Address to listen on ("0.0.0.0" or "::" for all interfaces)'),
  port: z.number().int().min(0).max(65535).default(8443).describe('HTTPS port (0 picks a free port)'),
  base_url: z
    .string()
    .url()
    .optional()
    .describe('Public base URL, when it differs from https://{hostname}:{port} (e.g. behind a load balancer); also OPENDCR_BASE_URL'),
  workers: z.number().int().min(0).max(256).default(0).describe('Worker processes sharing the listener; 0 = one per CPU core. Crashed workers are restarted'),
  data_dir: z
    .string()
    .min(1)
    .default('./data')
    .describe('Folder for the embedded database, generated keys, certificates and the trust store; also OPENDCR_DATA_DIR'),
  keep_alive_timeout: seconds(
    65,
    'HTTP/1.1 keep-alive idle timeout between requests (above the 60 s idle timeout common on load balancers, so they close first)',
  ),
  tls_handshake_timeout: seconds(10, 'A new connection must complete its TLS handshake within this time'),
  headers_timeout: seconds(
    10,
    'A connection must send complete request headers within this time of connecting (or of its previous request); an idle new connection is closed after it',
  ),
  request_timeout: seconds(30, 'A request must be received in full, body included, within this time'),
  max_connections_per_address: z
    .number()
    .int()
    .min(1)
    .max(100000)
    .default(128)
    .describe(
      'Open connections allowed from one client address, per worker process; further connections are closed before the TLS handshake. Addresses in [apimgt.mutual_ssl] trusted_proxies are exempt (a load balancer speaks for many clients)',
    ),
  shutdown_timeout: seconds(10, 'On SIGTERM, how long in-flight requests may take before connections are closed'),
  roles: z
    .array(z.enum(['key_manager', 'gateway']))
    .min(1)
    .default(['key_manager', 'gateway'])
    .describe(
      'What this host does: "key_manager" (OAuth endpoints, DCR, PSU pages; creates the signing keys on first start) and/or "gateway" (the published APIs). A gateway-only host holds no signing keys of its own making and learns keys, the catalogue and revocations from the database and the shared state, so the gateway scales apart from the key manager. The admin APIs are served by both',
    ),
});

export const keystoreSchema = z
  .strictObject({
    tls: z
      .strictObject({
        cert_file: z.string().optional().describe('PEM server certificate chain (required in production; generated in sandbox mode)'),
        key_file: z.string().optional().describe('PEM private key of the server certificate'),
      })
      .prefault({}),
  })
  .prefault({});

export const truststoreSchema = z
  .strictObject({
    dir: z
      .string()
      .optional()
      .describe(
        'Folder of PEM CA certificates trusted for client (transport) certificates; default {data_dir}/truststore. Changes are picked up without a restart',
      ),
  })
  .prefault({});

export const mutualSslSchema = z
  .strictObject({
    client_certificate_header: z
      .string()
      .toLowerCase()
      .optional()
      .describe('Header carrying the client certificate when TLS is terminated by a load balancer (e.g. "x-ssl-client-cert"); unset disables it'),
    client_certificate_encode: z
      .boolean()
      .default(true)
      .describe('The header value is URL-encoded PEM (as nginx $ssl_client_escaped_cert); false means raw or base64 DER'),
    trusted_proxies: z
      .array(z.string().refine((v) => proxyEntryError(v) === undefined, { message: 'must be an IP address or CIDR range (e.g. "10.0.0.5" or "10.0.0.0/8")' }))
      .default([])
      .describe('Peer addresses allowed to send the client certificate header; from any other peer the header is ignored'),
  })
  .prefault({});

export const databaseSchema = z
  .strictObject({
    url: z
      .string()
      .optional()
      .describe('"postgres://user@host:5432/db" for PostgreSQL; unset uses embedded SQLite at {data_dir}/opendcr.db; also OPENDCR_DATABASE_URL'),
    pool_size: z.number().int().positive().default(10).describe('PostgreSQL connection pool size per worker'),
    busy_timeout: z.number().int().positive().default(5000).describe('SQLite busy timeout (milliseconds) so several workers can share the file'),
  })
  .prefault({});

const adminUserSchema = z.strictObject({
  username: z.string().min(1).max(100).describe('Login name'),
  password_hash: z
    .string()
    .regex(/^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9_-]{16,}\$[A-Za-z0-9_-]{40,}$/, 'must be a hash made by `opendcr admin hash-password` (scrypt$N$r$p$salt$hash)')
    .describe('scrypt hash of the password (`opendcr admin hash-password`); plain passwords are never configured for console users'),
  role: z
    .enum(['admin', 'auditor', 'customer_care'])
    .default('admin')
    .describe('"admin" may change everything; "auditor" may read only; "customer_care" may find and revoke Open Banking consents and nothing else'),
});

export const adminSchema = z
  .strictObject({
    users: z
      .array(adminUserSchema)
      .max(100)
      .default([])
      .describe("Users of the admin console and the admin APIs, besides [super_admin] (the command line's account)"),
    session_idle_timeout: z.number().int().min(60).max(86400).default(900).describe('A console session ends after this long without a request (seconds)'),
    session_lifetime: z
      .number()
      .int()
      .min(300)
      .max(7 * 86400)
      .default(28800)
      .describe('A console session ends this long after login, whatever its activity (seconds)'),
    login_attempts: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(10)
      .describe(
        'Failed administrator passwords allowed per account and per client address in a window of [admin] login_window, console logins and HTTP Basic together, on every listener, worker and host; past them, 429 until the window ends, even for the right password',
      ),
    login_window: z
      .number()
      .int()
      .min(60)
      .max(86400)
      .default(300)
      .describe('The window [admin] login_attempts are counted in (seconds): fixed windows of this length, so a lock lasts until the current one ends'),
    console: z.boolean().default(true).describe('Serve the admin console (web pages) under /admin; the admin REST APIs are served either way'),
    port: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .optional()
      .describe(
        'A separate HTTPS management listener for the console and every admin REST API (/admin, /api/am, /api/opendcr, /api/identity), which the main listener then no longer serves; unset: they are on the main listener. 0 picks a free port',
      ),
    bind_address: z.string().min(1).default('127.0.0.1').describe('Address of the management listener (an internal interface)'),
  })
  .prefault({});

export const superAdminSchema = z
  .strictObject({
    username: z.string().min(1).default('admin').describe('Administrator user for the admin APIs (scope management)'),
    password: z
      .string()
      .min(1)
      .default('admin')
      .describe(
        'Administrator password; production mode refuses one shorter than 12 characters, equal to the user name or a variant of a well-known default (admin, password, changeme, ...); also OPENDCR_ADMIN_PASSWORD',
      ),
  })
  .prefault({});

const trustedIssuerSchema = z
  .strictObject({
    issuer: z.string().min(1).describe("Value of the assertion's iss claim"),
    jwks_url: z
      .string()
      .url()
      .optional()
      .describe(
        "Where the issuer's public keys are published (fetched and cached per [open_banking.dcr.jwks_cache]; the host must be in [oauth] allowed_outbound_hosts)",
      ),
    jwks: z
      .strictObject({ keys: z.array(z.record(z.string(), z.unknown())).describe('Public JWKs (inline TOML tables)') })
      .optional()
      .describe("The issuer's public keys inline, instead of jwks_url"),
    subject_claim: z.string().default('sub').describe('Claim naming the user the token is issued for'),
  })
  .refine((v) => Boolean(v.jwks_url) !== Boolean(v.jwks), { message: 'exactly one of jwks_url or jwks is required' });

const internalClientSchema = z.strictObject({
  client_id: z.string().min(1).describe('Client identifier'),
  client_secret: z.string().min(16).describe('Shared secret (at least 16 characters); prefer an environment override'),
  grant_types: z.array(z.string()).default(['client_credentials']).describe('Grants this client may use'),
  scope: z.string().default('').describe('Space-separated scopes this client may request'),
  token_endpoint_auth_method: z.enum(['client_secret_basic', 'client_secret_post']).default('client_secret_basic').describe('How the client authenticates'),
  redirect_uris: z.array(z.string().url()).default([]).describe('Redirect URIs, for authorization_code clients'),
});

export const oauthSchema = z
  .strictObject({
    issuer: z.string().url().optional().describe('Issuer identifier; default is the base URL'),
    default_scopes: z
      .array(z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/))
      .default(['openid', 'accounts', 'payments', 'fundsconfirmations'])
      .describe('Scopes created on first start; afterwards managed through /api/identity/oauth2/v1.0/scopes'),
    resource: z.string().url().optional().describe('Audience of access tokens (the APIs they are for); default {base_url}/open-banking'),
    token_generation: z
      .strictObject({
        access_token_type: z
          .enum(['jwt', 'opaque'])
          .default('jwt')
          .describe('"jwt": self-contained RFC 9068 access tokens a gateway validates itself; "opaque": reference tokens checked with introspection'),
        signing_algorithm: signingAlg.default('PS256').describe('Algorithm for JWT access tokens and ID tokens'),
      })
      .prefault({}),
    token_validity: z
      .strictObject({
        access_token: seconds(3600, 'Access token lifetime'),
        client_credentials_token: seconds(3600, 'Access token lifetime for client_credentials'),
        refresh_token: seconds(86400 * 30, 'Refresh token lifetime'),
        authorization_code: seconds(60, 'Authorization code lifetime'),
        id_token: seconds(3600, 'ID token lifetime'),
        session: seconds(3600, 'PSU login session lifetime'),
        interaction: seconds(600, 'Login/consent interaction lifetime'),
        grant: seconds(86400 * 90, 'Consent (grant) lifetime'),
      })
      .prefault({}),
    token_renewal: z
      .strictObject({
        renew_refresh_token: z.boolean().default(true).describe('Rotate the refresh token on every use (the old one stops working)'),
      })
      .prefault({}),
    key_rotation: z
      .strictObject({
        check_interval: seconds(10, 'How often each worker checks the store for rotated signing keys or changed scopes'),
      })
      .prefault({}),
    clock_tolerance: z.number().int().min(0).max(300).default(5).describe('Allowed clock skew for JWT validation (seconds)'),
    client_assertion_max_lifetime: z
      .number()
      .int()
      .min(60)
      .max(86400)
      .default(1800)
      .describe(
        'Longest accepted private_key_jwt client assertion lifetime: exp - iat, exp - nbf and exp - now (seconds); an iat or nbf later than now plus clock_tolerance is refused. OB TPPs sign assertions valid for up to 30 minutes; the replay record of an assertion lives as long as it does',
      ),
    grant_type: z
      .strictObject({
        jwt_bearer: z
          .strictObject({
            trusted_issuers: z.array(trustedIssuerSchema).default([]).describe('Issuers whose assertions are accepted by the RFC 7523 jwt-bearer grant'),
            max_lifetime: z
              .number()
              .int()
              .min(60)
              .max(86400)
              .default(3600)
              .describe(
                'Longest accepted assertion lifetime: exp - iat, exp - nbf and exp - now (seconds); the replay record of an assertion lives as long as it does',
              ),
          })
          .prefault({}),
      })
      .prefault({}),
    internal_clients: z
      .array(internalClientSchema)
      .default([])
      .describe('Bank-internal clients (e.g. the API gateway) that may use client_secret_basic / client_secret_post; Open Banking clients never can'),
    allowed_outbound_hosts: z
      .array(z.string())
      .default([])
      .describe(
        'Hosts (host or host:port) the server may fetch from (client jwks_uri, trusted issuer JWKS, software JWKS); the directory JWKS hosts are always allowed, and the server itself in sandbox mode',
      ),
  })
  .prefault({});

export const DCR_VERSIONS = ['v3.1', 'v3.2', 'v3.3'] as const;

/** The OB Directory's sandbox keystore (docs/dcr.md#directory-key-sets). */
export const OB_SANDBOX_JWKS = 'https://keystore.openbankingtest.org.uk/keystore/openbanking.jwks';

export const dcrSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Serve the Open Banking DCR API at /open-banking/{version}/register'),
    default_version: z.enum(DCR_VERSIONS).default('v3.3').describe('Version advertised as registration_endpoint in discovery'),
    jwks_url_sandbox: z
      .string()
      .url()
      .optional()
      .describe(
        `Directory JWKS that signs software statements with software_environment "sandbox" (default ${OB_SANDBOX_JWKS}; in sandbox mode, once \`opendcr sandbox init\` has run, this server's own sandbox directory)`,
      ),
    jwks_url_production: z
      .string()
      .url()
      .default('https://keystore.openbanking.org.uk/keystore/openbanking.jwks')
      .describe('Directory JWKS that signs software statements with software_environment "production"'),
    regulatory_issuers: z
      .array(z.string().min(1))
      .default(['OpenBanking Ltd'])
      .describe('Accepted SSA "iss" values (in sandbox mode the sandbox directory\'s issuer is added)'),
    software_environments: z
      .array(z.enum(['sandbox', 'production']))
      .default(['sandbox', 'production'])
      .describe('SSA software_environment values this deployment accepts; each is verified against its own directory JWKS'),
    ssa_max_age: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('Oldest accepted SSA, by its iat (seconds); 0 = no limit (TPPs legitimately reuse an SSA for a long time)'),
    ssa_signing_algorithms: z
      .array(z.enum(['PS256', 'ES256']))
      .default(['PS256', 'ES256'])
      .describe('Algorithms accepted on the SSA (directory) signature'),
    signing_algorithms: z
      .array(z.enum(['PS256', 'ES256']))
      .min(1)
      .default(['PS256'])
      .describe(
        'The one list of JWS algorithms for clients (FAPI: PS256, ES256): the registration request JWT, the token_endpoint_auth_signing_alg / id_token / request object algorithms a TPP may register, and what discovery advertises for client assertions, request objects, ID tokens, JARM, userinfo and introspection responses',
      ),
    audiences: z
      .array(z.string().min(1))
      .default([])
      .describe(
        'Accepted "aud" values of the registration request JWT, besides the issuer and the registration endpoint URLs (e.g. the bank\'s OB organisation id)',
      ),
    request_max_lifetime: z
      .number()
      .int()
      .min(3600)
      .default(86400)
      .describe(
        'Longest accepted registration request JWT lifetime: exp - iat, exp - nbf and exp - now (seconds; at least 3600, FAPI request objects may live an hour)',
      ),
    token_endpoint_auth_methods: z
      .array(z.enum(['private_key_jwt', 'tls_client_auth', 'client_secret_basic']))
      .default(['private_key_jwt', 'tls_client_auth'])
      .describe('token_endpoint_auth_method values a TPP may register; client_secret_basic is not FAPI-compliant and only for non-FAPI deployments'),
    revocation_check: z
      .boolean()
      .default(true)
      .describe("Reject request-signing keys listed at the SSA's software_jwks_revoked_endpoint / org_jwks_revoked_endpoint when present"),
    transport_certificate_binding: z
      .enum(['jwks_or_subject', 'jwks', 'subject', 'none'])
      .default('jwks_or_subject')
      .describe(
        'How the mTLS certificate must belong to the software: listed as a use:tls key in the software JWKS, and/or its subject OU/CN (or organizationIdentifier/CN) match the SSA org_id/software_id',
      ),
    single_registration_per_software: z
      .boolean()
      .default(false)
      .describe('Allow only one active registration per software_id (a second POST gets 400 invalid_client_metadata)'),
    append_registration_attributes_in_response: z
      .boolean()
      .default(false)
      .describe('Add an RFC 7592 registration_access_token and registration_client_uri to 201/200 responses (WSO2 key of the same name)'),
    jwks_cache: z
      .strictObject({
        max_age: seconds(600, "Key sets are refreshed after this long unless the response's Cache-Control max-age says otherwise"),
        stale_for: seconds(86400, 'How long cached keys keep being used while their host cannot be reached'),
        cooldown: seconds(30, 'Minimum time between refetches triggered by an unknown kid'),
        timeout: z.number().int().positive().default(3000).describe('Fetch timeout (milliseconds)'),
        max_bytes: z
          .number()
          .int()
          .positive()
          .default(512 * 1024)
          .describe('Largest accepted key set response (bytes)'),
      })
      .prefault({}),
  })
  .prefault({});

const demoUserSchema = z.strictObject({
  username: z.string().min(1).describe('Login name'),
  password: z.string().min(1).describe('Password'),
  name: z.string().default('').describe('Display name, returned as the name claim'),
  email: z.string().default('').describe('E-mail address claim'),
  accounts: z
    .array(
      z.strictObject({
        account_id: z
          .string()
          .regex(/^[A-Za-z0-9._~-]{1,40}$/, 'must be 1 to 40 letters, digits or . _ ~ -')
          .describe('The public AccountId the TPP sees (OB Max40Text; unique across users)'),
        nickname: z.string().min(1).max(70).describe('The name the customer knows the account by'),
        currency: z
          .string()
          .regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code')
          .default('GBP')
          .describe('ISO 4217 currency of the account'),
        scheme: z.string().min(1).max(40).default('UK.OBIE.SortCodeAccountNumber').describe('OB account scheme name of the identification'),
        identification: z.string().min(1).max(256).describe('The account identification in that scheme (sort code and account number: 14 digits)'),
      }),
    )
    .max(50)
    .default([])
    .describe('The bank accounts this demo user may choose on the consent page; none given: three accounts derived from the user name'),
});

export const sandboxSchema = z
  .strictObject({
    users: z
      .array(demoUserSchema)
      .default([{ username: 'psu', password: 'psu', name: 'Sandbox PSU', email: 'psu@example.com', accounts: [] }])
      .describe('Demo PSU users for the login page (sandbox mode only)'),
  })
  .superRefine((sandbox, ctx) => {
    // An AccountId names one account of one customer: a consent's selection must never reach another's.
    const seen = new Set<string>();
    for (const [u, user] of sandbox.users.entries()) {
      for (const [a, account] of user.accounts.entries()) {
        if (seen.has(account.account_id)) {
          ctx.addIssue({ code: 'custom', message: 'account_id must be unique across every user', path: ['users', u, 'accounts', a, 'account_id'] });
        }
        seen.add(account.account_id);
      }
    }
  })
  .prefault({});

const identityProviderSchema = z
  .strictObject({
    issuer: z
      .string()
      .url()
      .refine((u) => u.startsWith('https://'), 'must be an https:// URL')
      .describe(
        "The bank's OpenID provider: its issuer identifier, whose /.well-known/openid-configuration is read (its host must be in [oauth] allowed_outbound_hosts)",
      ),
    client_id: z
      .string()
      .min(1)
      .max(255)
      .describe("OpenDCR's client id at the bank's provider (a confidential client; its redirect URI is {base_url}/psu/sign-in/callback)"),
    client_secret_env: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/)
      .optional()
      .describe('The environment variable holding the client secret (client_secret_basic)'),
    client_secret_file: z.string().min(1).optional().describe('A file holding the client secret (client_secret_basic)'),
    private_key_file: z.string().min(1).optional().describe('A PKCS#8 PEM private key file for private_key_jwt client authentication, instead of a secret'),
    private_key_alg: z.enum(['PS256', 'ES256']).default('PS256').describe('The algorithm of private_key_file'),
    id_token_signed_response_alg: z
      .enum(['PS256', 'ES256', 'RS256'])
      .default('PS256')
      .describe('The algorithm the provider signs its ID tokens with (any other is refused)'),
    subject_claim: z.string().min(1).max(100).default('sub').describe("The ID token claim that is the customer's identifier at OpenDCR"),
    scope: z.string().min(1).max(500).default('openid').describe('The scope asked of the provider (openid is required)'),
    acr_values: z
      .array(z.string().min(1).max(255))
      .max(10)
      .default([])
      .describe("Authentication context classes asked for, one of which the ID token's acr must be (the bank's strong customer authentication); empty: any"),
  })
  .superRefine((idp, ctx) => {
    const ways = [idp.client_secret_env, idp.client_secret_file, idp.private_key_file].filter((v) => v !== undefined).length;
    if (ways !== 1) ctx.addIssue({ code: 'custom', message: 'set exactly one of client_secret_env, client_secret_file and private_key_file', path: [] });
    if (!idp.scope.split(' ').includes('openid')) ctx.addIssue({ code: 'custom', message: 'must include openid', path: ['scope'] });
  });

const accountSourceSchema = z.strictObject({
  url: z
    .string()
    .url()
    .refine((u) => u.startsWith('https://') && u.includes('{psu}'), 'must be an https:// URL with {psu} in it')
    .describe(
      "The bank's endpoint that lists a customer's accounts: {psu} is replaced by the customer's id (URL-encoded); its host must be in [oauth] allowed_outbound_hosts",
    ),
  client_cert_file: z.string().min(1).optional().describe('PEM client certificate (chain) for mutual TLS to the endpoint'),
  client_key_file: z.string().min(1).optional().describe('PEM private key of client_cert_file'),
  authorization_env: z
    .string()
    .regex(/^[A-Z_][A-Z0-9_]*$/)
    .optional()
    .describe('An environment variable whose value is sent as the Authorization header (e.g. "Bearer …")'),
  timeout: z.number().int().min(1).max(30).default(5).describe('How long one request may take (seconds)'),
  max_bytes: z.number().int().min(1024).max(4_194_304).default(262_144).describe('Largest answer read (bytes)'),
  cache_ttl: z
    .number()
    .int()
    .min(0)
    .max(600)
    .default(60)
    .describe("How long a customer's accounts are kept for the consent pages (seconds; 0: read every time)"),
});

export const eventsSchema = z
  .strictObject({
    notice_retention: z
      .number()
      .int()
      .min(86_400)
      .max(400 * 86_400)
      .default(30 * 86_400)
      .describe('How long an event notice a TPP has not acknowledged is kept for it to poll (seconds); older ones are swept'),
  })
  .prefault({});

export const psuSchema = z
  .strictObject({
    account_source: accountSourceSchema
      .refine((a) => (a.client_cert_file === undefined) === (a.client_key_file === undefined), 'client_cert_file and client_key_file go together')
      .optional()
      .describe("The bank's account system, asked for the accounts a customer may choose on the consent page; unset: the sandbox users' accounts"),
    identity_provider: identityProviderSchema
      .optional()
      .describe(
        "The bank's own sign-in for customers (OpenID Connect): the consent pages and the access dashboard send the customer there; unset in sandbox mode: the demo users' form",
      ),
    session_idle_timeout: z
      .number()
      .int()
      .min(60)
      .max(3600)
      .default(300)
      .describe("A customer's session on the access dashboard ends after this long without a request (seconds)"),
    session_lifetime: z
      .number()
      .int()
      .min(300)
      .max(43200)
      .default(1800)
      .describe("A customer's session on the access dashboard ends this long after sign-in (seconds)"),
  })
  .prefault({});

export const logSchema = z
  .strictObject({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('Log level; also OPENDCR_LOG_LEVEL'),
  })
  .prefault({});

export const redisSchema = z
  .strictObject({
    url: z
      .string()
      .regex(/^rediss?:\/\//, 'must start with redis:// or rediss://')
      .optional()
      .describe(
        'Redis for the shared state of a cluster of hosts (replay ids, revocation marks, counters, change notices), e.g. "redis://redis.internal:6379/0"; unset keeps it in the embedded file (one host) or in PostgreSQL when [database] url is set; also OPENDCR_REDIS_URL',
      ),
    key_prefix: z.string().min(1).max(64).default('opendcr:').describe('Prefix of every key and channel, so several deployments can share one Redis'),
    command_timeout: z
      .number()
      .int()
      .positive()
      .max(60000)
      .default(2000)
      .describe('How long a Redis command may take before the request that needed it fails with 503 (milliseconds)'),
  })
  .prefault({});

export const metricsSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Serve Prometheus metrics at /metrics (text exposition format), aggregated across worker processes'),
    port: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .optional()
      .describe(
        'A separate plain-HTTP listener for /metrics only (recommended in production: scrape it on an internal interface); unset serves /metrics on the main listener, to allowed_networks only',
      ),
    bind_address: z.string().min(1).default('127.0.0.1').describe('Address of the separate metrics listener'),
    allowed_networks: z
      .array(z.string().refine((v) => proxyEntryError(v) === undefined, { message: 'must be an IP address or CIDR range (e.g. "10.0.0.0/8")' }))
      .default(['127.0.0.1', '::1'])
      .describe('Peer addresses (or CIDR ranges) that may read /metrics on the main listener; anyone else gets 403'),
    token: z
      .string()
      .min(16)
      .optional()
      .describe('When set, scrapes must send "Authorization: Bearer <token>" (on either listener); also OPENDCR_METRICS_TOKEN'),
  })
  .prefault({});

const milliseconds = (def: number, max: number, what: string) => z.number().int().positive().max(max).default(def).describe(`${what} (milliseconds)`);

export const gatewaySchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Serve the published APIs of the gateway catalogue (opendcr api …) on the listeners below'),
    listeners: z
      .array(z.enum(['main', 'own']))
      .min(1)
      .default(['main'])
      .describe(
        'Where API calls are served: "main" = the main HTTPS listener ([server] port), "own" = a separate HTTPS listener on [gateway] port (as WSO2\'s gateway on 8243); both may be given. Same certificate, trust store and certificate-header rules',
      ),
    port: z.number().int().min(0).max(65535).default(8243).describe('Port of the gateway\'s own listener (when listeners has "own"; 0 picks a free port)'),
    allowed_backend_hosts: z
      .array(z.string().min(1))
      .default([])
      .describe(
        'Hosts (host or host:port) an API\'s backend URL may point at; "*" allows any. In sandbox mode localhost, 127.0.0.1 and ::1 are allowed as well. Checked when an API is imported and on every call',
      ),
    backend_connect_timeout: milliseconds(5000, 60000, 'Time to open a connection to a backend before the call fails with 502'),
    backend_timeout: milliseconds(
      30000,
      300000,
      'Time a backend may take to send its response headers, and between two chunks of its body, before the call fails with 504',
    ),
    backend_connections: z
      .number()
      .int()
      .min(1)
      .max(1024)
      .default(128)
      .describe('Most open connections to one backend, per worker process (kept alive and reused)'),
    backend_keep_alive: milliseconds(
      4000,
      600000,
      'How long an idle backend connection is kept; keep it below the backend\'s own idle timeout (Node\'s default is 5 s), or calls fail with "other side closed"',
    ),
    max_request_body: z
      .number()
      .int()
      .min(1)
      .max(64 * 1024 * 1024)
      .default(1024 * 1024)
      .describe('Largest request body passed to a backend (bytes); larger ones get 413'),
    max_response_body: z
      .number()
      .int()
      .min(1)
      .max(512 * 1024 * 1024)
      .default(10 * 1024 * 1024)
      .describe('Largest response body taken from a backend (bytes); a larger one gets 502 (or a cut connection, once streaming started)'),
    identity_header: z
      .string()
      .toLowerCase()
      .regex(/^[a-z0-9-]+$/)
      .default('x-opendcr-identity')
      .describe(
        "Header carrying the caller's identity to the backend: a short ES256 JWT (client_id, software_id, org_id, roles, scope, psu, consent_id), checked with the key set at /gateway/jwks.json",
      ),
    identity_lifetime: z
      .number()
      .int()
      .min(10)
      .max(3600)
      .default(60)
      .describe('Lifetime of the identity JWT (seconds); one is reused for a token until half of it has passed'),
    jws_trust_anchor: z
      .string()
      .min(1)
      .default('openbanking.org.uk')
      .describe('Expected "http://openbanking.org.uk/tan" of x-jws-signature headers (the trust anchor that issued the TPP\'s signing certificate)'),
    idempotency_window: seconds(86400, 'How long the first response to an x-idempotency-key is replayed to its repeats (OB: 24 hours)'),
    idempotency_lease_margin: seconds(
      10,
      "How long past the backend connect and response timeouts a call holds its x-idempotency-key; a repeat within that lease gets 409 with Retry-After, one after it learns the first call's outcome or that it is unknown",
    ),
    check_interval: seconds(10, 'How often each worker checks the database for catalogue changes it missed a notice of'),
    subscription_cache_ttl: z
      .number()
      .int()
      .min(0)
      .max(3600)
      .default(60)
      .describe('How long a worker reuses a subscription lookup (seconds); every change notice drops it sooner'),
  })
  .prefault({});

export const configSchema = z.strictObject({
  server: serverSchema.prefault({}),
  keystore: keystoreSchema,
  truststore: truststoreSchema,
  apimgt: z.strictObject({ mutual_ssl: mutualSslSchema }).prefault({}),
  database: databaseSchema,
  super_admin: superAdminSchema,
  admin: adminSchema,
  oauth: oauthSchema,
  open_banking: z.strictObject({ dcr: dcrSchema, events: eventsSchema }).prefault({}),
  sandbox: sandboxSchema,
  psu: psuSchema,
  log: logSchema,
  metrics: metricsSchema,
  redis: redisSchema,
  gateway: gatewaySchema,
});

export type ConfigInput = z.input<typeof configSchema>;
export type ParsedConfig = z.output<typeof configSchema>;

/** The resolved, frozen configuration passed down from the composition root. */
export interface Config extends ParsedConfig {
  /** Where the file came from, or null when running on defaults. */
  readonly source: string | null;
  /** Derived absolute paths and URLs, so nobody recomputes them. */
  readonly derived: {
    readonly baseUrl: string;
    readonly issuer: string;
    readonly resource: string;
    readonly dataDir: string;
    readonly truststoreDir: string;
    readonly databaseUrl: string;
    /** Hosts outbound fetches may reach: allowed_outbound_hosts + directory JWKS hosts (+ this server in sandbox mode). */
    readonly outboundHosts: readonly string[];
    /** Registration endpoint per DCR version, and the advertised one. */
    readonly registrationEndpoint: string;
  };
}
