/**
 * The demo's sample ASPSP: the bank's Account and Transaction backend behind the gateway, a tiny
 * in-process HTTP server on 127.0.0.1 with canned data. It answers what the demo calls (accounts,
 * one account, account access consents) and keeps the identity each call arrived with (the
 * gateway's signed header), so the demo can show who the backend was told is calling.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';

export interface SampleAspsp {
  /** Base URL of the AISP backend: `http://127.0.0.1:PORT/aisp`. */
  readonly url: string;
  /** The identity JWT (its claims) of the last call. */
  lastIdentity(): Record<string, unknown> | undefined;
  close(): Promise<void>;
}

const ACCOUNTS = [
  {
    AccountId: '22289',
    Status: 'Enabled',
    StatusUpdateDateTime: '2026-01-02T09:00:00+00:00',
    Currency: 'GBP',
    AccountType: 'Personal',
    AccountSubType: 'CurrentAccount',
    Nickname: 'Bills',
    Account: [{ SchemeName: 'UK.OBIE.SortCodeAccountNumber', Identification: '80200110203345', Name: 'Mr Kevin', SecondaryIdentification: '00021' }],
  },
  {
    AccountId: '31820',
    Status: 'Enabled',
    StatusUpdateDateTime: '2026-03-14T09:00:00+00:00',
    Currency: 'GBP',
    AccountType: 'Personal',
    AccountSubType: 'Savings',
    Nickname: 'Rainy day',
    Account: [{ SchemeName: 'UK.OBIE.SortCodeAccountNumber', Identification: '80200110203348', Name: 'Mr Kevin' }],
  },
];

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

export async function startSampleAspsp(identityHeader = 'x-opendcr-identity'): Promise<SampleAspsp> {
  let last: Record<string, unknown> | undefined;
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      last = claimsOf(req, identityHeader);
      const path = (req.url ?? '/').split('?')[0]!;
      const self = `https://aspsp.example${path}`;
      const send = (status: number, body: unknown) => {
        const text = JSON.stringify(body);
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      };
      const account = /^\/aisp\/accounts\/([^/]+)$/.exec(path);
      if (req.method === 'GET' && path === '/aisp/accounts') return send(200, { Data: { Account: ACCOUNTS }, Links: { Self: self }, Meta: { TotalPages: 1 } });
      if (req.method === 'GET' && account) {
        const found = ACCOUNTS.filter((a) => a.AccountId === account[1]);
        if (found.length) return send(200, { Data: { Account: found }, Links: { Self: self }, Meta: { TotalPages: 1 } });
      }
      if (req.method === 'POST' && path === '/aisp/account-access-consents') {
        return send(201, {
          Data: {
            ConsentId: `aac-${randomUUID()}`,
            Status: 'AwaitingAuthorisation',
            CreationDateTime: new Date().toISOString(),
            StatusUpdateDateTime: new Date().toISOString(),
            Permissions: ['ReadAccountsBasic', 'ReadAccountsDetail'],
          },
          Risk: {},
          Links: { Self: self },
          Meta: { TotalPages: 1 },
        });
      }
      return send(400, {
        Code: '400 BadRequest',
        Id: randomUUID(),
        Message: 'the sample ASPSP does not serve this resource',
        Errors: [{ ErrorCode: 'UK.OBIE.Resource.NotFound', Message: 'unknown resource id' }],
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/aisp`,
    lastIdentity: () => last,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
