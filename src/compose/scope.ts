/**
 * What the composition root has built and how to close it. Each part registers its close step as
 * soon as it exists; closing runs them last first (the listeners before the services they call,
 * the storage last of all), once, and a step that fails is logged without stopping the rest. A
 * start that fails half way closes what it had built the same way.
 */
import type { Logger } from '../logger.ts';

export interface Scope {
  /** Registers how to close what was just built. */
  defer(name: string, close: () => unknown): void;
  /** Runs every registered step, last registered first; the same promise on every call. */
  close(): Promise<void>;
}

export function createScope(logger: Logger): Scope {
  const steps: Array<{ name: string; close: () => unknown }> = [];
  let closing: Promise<void> | undefined;
  return {
    defer(name, close) {
      if (closing) throw new Error(`cannot add "${name}" to a scope that is closing`);
      steps.push({ name, close });
    },
    close() {
      closing ??= (async () => {
        for (const step of steps.reverse()) {
          try {
            await step.close();
          } catch (err) {
            logger.warn({ err, step: step.name }, 'a part of the server did not close cleanly');
          }
        }
      })();
      return closing;
    },
  };
}
