/**
 * Loaded into every test file of `npm run test:unit` (test/unit.ts): a unit test opens no socket
 * and starts no process, so a file that does fails at that call instead of passing as a unit
 * test. The test runner's own process (which spawns the files) is left alone.
 */
import childProcess from 'node:child_process';
import net from 'node:net';

if (process.env['NODE_TEST_CONTEXT']?.startsWith('child')) {
  const refuse = (what: string) => () => {
    throw new Error(`a unit test ${what}: move the file out of the unit half (test/unit.ts decides which files are in it)`);
  };
  net.Server.prototype.listen = refuse('listens on a socket');
  net.Socket.prototype.connect = refuse('opens a connection');
  for (const name of ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork'] as const) {
    (childProcess as Record<string, unknown>)[name] = refuse('starts a process');
  }
}
