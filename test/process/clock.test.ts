/**
 * One clock for the whole server: the `now` handed to startServer is what its parts read when
 * they record a time (the signing keys the key manager makes, the resident key manager's record,
 * the key of the gateway's identity JWTs), not each part's own reading of the system clock.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import { startServer, type RunningServer } from '../../src/server.ts';

const dir = mkdtempSync(join(tmpdir(), 'opendcr-clock-'));
// A week ahead of the system clock, a whole second, so no part could have read it by chance.
const AT = Math.floor(Date.now() / 1000) + 7 * 86_400;
let server: RunningServer;

before(async () => {
  const file = join(dir, 'opendcr.toml');
  writeFileSync(file, `[server]\nport = 0\ndata_dir = "${join(dir, 'data')}"\n`);
  server = await startServer({ config: loadConfig({ path: file, env: {} }), now: () => AT });
});
after(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

test("the signing keys the key manager makes at start carry the root clock's time", async () => {
  const keys = await server.storage.keys.list(AT);
  assert.ok(keys.length >= 2, `${keys.length} keys`);
  assert.deepEqual([...new Set(keys.map((k) => k.createdAt))], [AT]);
});

test("the resident key manager's record is made at the root clock's time", async () => {
  const resident = (await server.storage.gateway.listKeyManagers()).filter((k) => k.type === 'resident');
  assert.equal(resident.length, 1);
  assert.equal(resident[0]!.createdAt, AT);
});
