#!/usr/bin/env node
// Thin launcher so `npx opendcr` works: the CLI itself is TypeScript run by Node 24's type
// stripping. It calls the CLI explicitly: npm links this file into node_modules/.bin, so
// process.argv[1] is the link's path and the CLI module can never recognise itself as the main one.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `opendcr: needs Node.js 24 (this is ${process.version} at ${process.execPath}); ` +
      'run it with npx opendcr or npm run cli, which use the Node.js the project pins, or node_modules/.bin/node\n',
  );
  process.exit(2);
}
const { useCompileCache } = await import('../src/compile-cache.ts');
useCompileCache();
const { cliMain } = await import('../src/cli/index.ts');
await cliMain();
