/**
 * The crypto limit of the token endpoint on this machine: per request, one PS256 verify (the
 * client assertion, with the TPP's RSA 2048 key) and one PS256 sign (the access token, with an
 * RSA 2048 key like the server's), nothing else, on one worker thread per core for a fixed time.
 * No server can issue private_key_jwt + PS256 tokens faster than this on the same cores.
 */
import { availableParallelism } from 'node:os';
import { constants, createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, verify, type JsonWebKey } from 'node:crypto';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { signPs256 } from './assertions.ts';

export interface CryptoLimit {
  threads: number;
  seconds: number;
  /** Verify + sign pairs per second, all threads together. */
  opsPerSecond: number;
}

const PSS = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST };

/** Runs `threads` workers for `seconds`; `clientJwk` is the TPP's private signing key (for a real assertion). */
export async function measureCryptoLimit(clientJwk: JsonWebKey, seconds: number, threads = availableParallelism()): Promise<CryptoLimit> {
  const workers = Array.from({ length: threads }, () => new Worker(new URL(import.meta.url), { workerData: { benchCryptoLimit: true, clientJwk, seconds } }));
  try {
    // Every thread prepares its keys first; then all start together.
    await Promise.all(
      workers.map(
        (w) =>
          new Promise((resolve, reject) => {
            w.once('message', resolve);
            w.once('error', reject);
          }),
      ),
    );
    const counts = await Promise.all(
      workers.map(
        (w) =>
          new Promise<number>((resolve, reject) => {
            w.once('message', (m: number) => resolve(m));
            w.once('error', reject);
            w.postMessage('go');
          }),
      ),
    );
    return { threads, seconds, opsPerSecond: counts.reduce((a, b) => a + b, 0) / seconds };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

if (!isMainThread && (workerData as { benchCryptoLimit?: boolean } | null)?.benchCryptoLimit) {
  const { clientJwk, seconds } = workerData as { clientJwk: JsonWebKey; seconds: number };
  const clientKey = createPrivateKey({ key: clientJwk, format: 'jwk' });
  const clientPublic = createPublicKey(clientKey);
  const { privateKey: serverKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const iat = Math.floor(Date.now() / 1000);
  const assertion = signPs256(
    { alg: 'PS256', kid: 'k' },
    { iss: 'c', sub: 'c', aud: 'https://localhost/oauth2/token', jti: randomUUID(), iat, exp: iat + 300 },
    clientKey,
  );
  const dot = assertion.lastIndexOf('.');
  const input = Buffer.from(assertion.slice(0, dot));
  const signature = Buffer.from(assertion.slice(dot + 1), 'base64url');
  parentPort!.once('message', () => {
    let n = 0;
    const end = performance.now() + seconds * 1000;
    while (performance.now() < end) {
      if (!verify('sha256', input, { key: clientPublic, ...PSS }, signature)) throw new Error('assertion did not verify');
      // An access token's worth of claims, with a fresh jti as a real one has.
      signPs256(
        { alg: 'PS256', typ: 'at+jwt', kid: 'k' },
        {
          iss: 'https://localhost',
          sub: 'c',
          aud: 'https://localhost/open-banking',
          client_id: 'c',
          scope: 'accounts',
          jti: randomUUID(),
          iat,
          exp: iat + 3600,
          cnf: { 'x5t#S256': 'x'.repeat(43) },
        },
        serverKey,
      );
      n++;
    }
    parentPort!.postMessage(n);
  });
  parentPort!.postMessage('ready');
}
