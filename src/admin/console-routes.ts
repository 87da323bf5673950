/**
 * The admin console: a single page under /admin built on the REST APIs, every asset
 * served by this server. Assets live under /admin/assets/<content hash>/ with a year's immutable
 * caching (a new release has a new hash); the page itself is never cached. Every response carries
 * a strict Content-Security-Policy (no inline script or style, nothing from another origin).
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { fail } from '../errors/app-error.ts';

export const CONSOLE_PATH = '/admin';
const ASSETS = `${CONSOLE_PATH}/assets`;
const HERE = dirname(fileURLToPath(import.meta.url));

export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "font-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "manifest-src 'self'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
};

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.html': 'text/html; charset=utf-8',
};

interface Asset {
  type: string;
  body: Buffer;
  etag: string;
}

/** The console's files (src/admin/console) and the chart library (node_modules/chart.js), read once. */
function loadAssets(): { hash: string; assets: Map<string, Asset>; page: Buffer } {
  const root = join(HERE, 'console');
  const files = new Map<string, Buffer>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else files.set(relative(root, path).split(sep).join('/'), readFileSync(path));
    }
  };
  walk(root);
  // Chart.js's UMD build defines window.Chart; it injects no styles (CSP: style-src 'self').
  const chartDir = dirname(fileURLToPath(import.meta.resolve('chart.js')));
  files.set('vendor/chart.umd.min.js', Buffer.from(readFileSync(join(chartDir, 'chart.umd.min.js'), 'utf8').replace(/\n\/\/# sourceMappingURL=.*\s*$/, '\n')));
  const page = files.get('index.html');
  if (!page) throw new Error('the console page (src/admin/console/index.html) is missing');
  files.delete('index.html');
  const digest = createHash('sha256');
  for (const [name, body] of files) digest.update(name).update(body);
  const hash = digest.digest('hex').slice(0, 16);
  const assets = new Map<string, Asset>();
  for (const [name, body] of files) {
    const type = TYPES[extname(name)];
    if (type) assets.set(name, { type, body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
  }
  return { hash, assets, page: Buffer.from(page.toString('utf8').replaceAll('{{ASSETS}}', `${ASSETS}/${hash}`)) };
}

export function consoleRoutes(opts: { sandbox: boolean }) {
  const { hash, assets, page } = loadAssets();
  const pageBody = Buffer.from(page.toString('utf8').replace('{{SANDBOX}}', opts.sandbox ? 'true' : 'false'));
  const secure = (reply: FastifyReply) => reply.headers(SECURITY_HEADERS);
  const sendPage = async (_req: unknown, reply: FastifyReply) => secure(reply).header('cache-control', 'no-store').type(TYPES['.html']!).send(pageBody);

  return async function plugin(app: FastifyInstance): Promise<void> {
    app.get(CONSOLE_PATH, async (_req, reply) => secure(reply).redirect(`${CONSOLE_PATH}/`, 302));
    app.get(`${CONSOLE_PATH}/`, sendPage);
    // Every page of the console is the same document; the script draws the page the path names.
    app.get(`${CONSOLE_PATH}/*`, async (req, reply) => {
      const path = (req.params as { '*': string })['*'];
      if (path.startsWith('assets/') || path.startsWith('api/')) {
        const m = /^assets\/([0-9a-f]{16})\/([A-Za-z0-9._/-]{1,200})$/.exec(path);
        const asset = m && m[1] === hash ? assets.get(m[2]!) : undefined;
        if (!asset) throw fail('NOT_FOUND', 'no such console asset');
        secure(reply).header('cache-control', 'public, max-age=31536000, immutable').header('etag', asset.etag);
        if (req.headers['if-none-match'] === asset.etag) return reply.code(304).send();
        return reply.type(asset.type).send(asset.body);
      }
      return sendPage(req, reply);
    });
  };
}
