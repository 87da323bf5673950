/**
 * `npm start`: turns on the compile cache before anything else is loaded (src/compile-cache.ts),
 * then starts the server (src/start.ts: options, configuration, one process or a primary with
 * worker processes). Worker processes run this file too.
 */
import { useCompileCache } from './compile-cache.ts';

useCompileCache();
const { main } = await import('./start.ts');
await main();
