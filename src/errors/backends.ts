/**
 * What the storage and shared-state backends throw instead of their drivers' errors: the ports
 * re-export them as part of their contracts, and the error mapping turns the two outages into
 * 503s. They live here, below the backends and the SQLite plumbing they share, so that neither the
 * mapping nor that plumbing needs a port.
 */

/** A write would duplicate what exists (a unique key). */
export class ConflictError extends Error {
  override readonly name = 'ConflictError';
}

/** A unit of work used its stores after it ended, or waited for I/O inside its transaction. */
export class UnitOfWorkError extends Error {
  override readonly name = 'UnitOfWorkError';
}

/** The database cannot be reached now (a driver's own error never leaves a backend). */
export class StorageUnavailableError extends Error {
  override readonly name = 'StorageUnavailableError';
}

/** The shared state cannot be reached now; the request that needed it must not pass (503). */
export class SharedStateUnavailableError extends Error {
  override readonly name = 'SharedStateUnavailableError';
}
