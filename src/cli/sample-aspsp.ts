/**
 * The demo's sample ASPSP: the bank's Account and Transaction and Payment Initiation backends
 * behind the gateway, a tiny in-process HTTP server on 127.0.0.1. It answers what the demo calls
 * from the identity each call arrives with (the gateway's signed header): the accounts are the
 * PSU's, and only those the consent names (the header's `consent.accounts`), so it never looks a
 * consent up; a domestic payment is accepted with a new id. It keeps the last identity, so the
 * demo can show who the backend was told is calling.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { PsuAccount } from '../consent/psu-accounts.ts';

export interface SampleAspsp {
  /** Base URL of the AISP backend: `http://127.0.0.1:PORT/aisp`. */
  readonly url: string;
  /** Base URL of the PISP backend: `http://127.0.0.1:PORT/pisp`. */
  readonly paymentsUrl: string;
  /** The identity JWT (its claims) of the last call. */
  lastIdentity(): Record<string, unknown> | undefined;
  close(): Promise<void>;
}

/** An account in OBAccount6's shape. */
const obAccount = (a: PsuAccount) => ({
  AccountId: a.accountId,
  Status: 'Enabled',
  StatusUpdateDateTime: '2026-01-02T09:00:00+00:00',
  Currency: a.currency,
  AccountType: 'Personal',
  AccountSubType: 'CurrentAccount',
  Nickname: a.nickname,
  Account: [{ SchemeName: a.scheme, Identification: a.identification }],
});

const claimsOf = (req: IncomingMessage, header: string): Record<string, unknown> | undefined => {
  const jwt = req.headers[header];
  if (typeof jwt !== 'string') return undefined;
  try {
    // Shown, not trusted: a real backend verifies it against the server's /gateway/jwks.json.
    return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
};

/** `accounts(psu)`: the PSU's accounts, as the bank's account system knows them. */
export async function startSampleAspsp(identityHeader: string, accounts: (psu: string) => Promise<readonly PsuAccount[]>): Promise<SampleAspsp> {
  let last: Record<string, unknown> | undefined;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        last = claimsOf(req, identityHeader);
        const path = (req.url ?? '/').split('?')[0]!;
        const self = `https://aspsp.example${path}`;
        const send = (status: number, body: unknown) => {
          const text = JSON.stringify(body);
          res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
          res.end(text);
        };
        // The consent the gateway held the call to: its accounts only.
        const consent = last?.['consent'] as { accounts?: string[] } | undefined;
        const psu = typeof last?.['psu'] === 'string' ? last['psu'] : '';
        const granted = (await accounts(psu)).filter((a) => consent?.accounts?.includes(a.accountId));
        const account = /^\/aisp\/accounts\/([^/]+)$/.exec(path);
        if (req.method === 'GET' && path === '/aisp/accounts')
          return send(200, { Data: { Account: granted.map(obAccount) }, Links: { Self: self }, Meta: { TotalPages: 1 } });
        if (req.method === 'GET' && account) {
          const found = granted.filter((a) => a.accountId === decodeURIComponent(account[1]!));
          if (found.length) return send(200, { Data: { Account: found.map(obAccount) }, Links: { Self: self }, Meta: { TotalPages: 1 } });
        }
        if (req.method === 'POST' && path === '/pisp/domestic-payments') {
          const sent = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { Data?: Record<string, unknown> };
          const now = new Date().toISOString();
          return send(201, {
            Data: {
              DomesticPaymentId: `dp-${randomUUID()}`,
              ConsentId: sent.Data?.['ConsentId'],
              Status: 'AcceptedSettlementInProcess',
              CreationDateTime: now,
              StatusUpdateDateTime: now,
              Initiation: sent.Data?.['Initiation'],
            },
            Links: { Self: self },
            Meta: {},
          });
        }
        return send(400, {
          Code: '400 BadRequest',
          Id: randomUUID(),
          Message: 'the sample ASPSP does not serve this resource',
          Errors: [{ ErrorCode: 'UK.OBIE.Resource.NotFound', Message: 'unknown resource id' }],
        });
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `${base}/aisp`,
    paymentsUrl: `${base}/pisp`,
    lastIdentity: () => last,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
