/**
 * What every resource the consent engine serves shares: the API a call came through, the answer
 * it gets (status, headers, body, as a backend's), and the API version family it speaks.
 */

/** The API a consent call came through. */
export interface ConsentApi {
  readonly id: string;
  readonly context: string;
  /** Its definition's version (`v3.1.11`, `4.0.0`): v4 and later answer with v4 codes and statuses. */
  readonly version: string;
  readonly documentHash: string;
}

export interface ConsentAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

/** `v3.1` or `v4.0` from the definition's version or the API's context. */
export function apiFamily(api: Pick<ConsentApi, 'version' | 'context'>): string {
  const m = /^v?(\d+)\./.exec(api.version) ?? /\/v(\d+)\.\d+(?:\/|$)/.exec(api.context);
  return m && Number(m[1]) >= 4 ? 'v4.0' : 'v3.1';
}
