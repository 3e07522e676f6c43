/** The driver's own error: Drizzle wraps it as `cause`; Neon batches and PGlite may throw it bare. */
function driverError (error: unknown): { code?: unknown; constraint?: unknown } | undefined {
  return ((error as { cause?: unknown } | undefined)?.cause ?? error) as { code?: unknown; constraint?: unknown } | undefined
}

/**
 * The SQLSTATE of a database error, whichever driver raised it: Drizzle wraps driver errors in
 * `DrizzleQueryError` with the driver's error as `cause`; Neon batches throw the bare `NeonDbError`.
 */
export function sqlState (error: unknown): string | undefined {
  const code = driverError(error)?.code
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined
}

/** The name of the constraint a write broke, whichever driver raised it. */
export function violatedConstraint (error: unknown): string | undefined {
  const constraint = driverError(error)?.constraint
  return typeof constraint === 'string' ? constraint : undefined
}

export class DatabaseUnavailableError extends Error {
  constructor (cause: unknown) {
    super('The database did not answer', { cause })
  }
}

/** Every connection of the pool stayed in use until the deadline: the statement was never sent. */
export class DatabaseBusyError extends Error {
  constructor (cause: unknown) {
    super('Every database connection was in use', { cause })
  }
}

/** A write's statement was sent and no answer came: it may have been applied, or may still be. */
export class WriteOutcomeUnknownError extends Error {
  constructor (cause: unknown) {
    super('A write was sent to the database and no answer came', { cause })
  }
}

/** SQLSTATE query_canceled: the statement timeout (or a cancel request) stopped the statement, which changed nothing. */
const QUERY_CANCELED = '57014'

/**
 * What a failure caused by the database's state, not by the request, tells the client:
 * - busy: every connection was in use until the deadline; nothing was sent;
 * - unavailable: nothing reached the database, or a read got no answer; nothing was changed;
 * - cancelled: the database gave the statement up; nothing was changed;
 * - outcome-unknown: a write was sent and no answer came; it may have been applied.
 */
export type DatabaseFault = 'busy' | 'unavailable' | 'cancelled' | 'outcome-unknown'

export function databaseFault (error: unknown): DatabaseFault | undefined {
  for (let current: unknown = error; current instanceof Error; current = current.cause) {
    if (current instanceof WriteOutcomeUnknownError) return 'outcome-unknown'
    if (current instanceof DatabaseBusyError) return 'busy'
  }
  if (sqlState(error) === QUERY_CANCELED) return 'cancelled'
  return isDatabaseUnavailable(error) ? 'unavailable' : undefined
}

/** Network-level failures of every driver: refused or reset sockets, timeouts, Neon's fetch failing. */
const UNAVAILABLE_NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE'])

/**
 * True when an error means "the database cannot be reached right now" rather than "this query is wrong":
 * SQLSTATE classes 08 (connection exception), 53 (insufficient resources) and 57P (operator intervention),
 * socket errors, and the driver messages for a dropped connection, a query timeout or a failed fetch.
 */
export function isDatabaseUnavailable (error: unknown): boolean {
  for (let current: unknown = error; current instanceof Error; current = current.cause) {
    if (current instanceof DatabaseUnavailableError) return true
    const code = (current as { code?: unknown }).code
    if (typeof code === 'string') {
      if (UNAVAILABLE_NETWORK_CODES.has(code) || /^(08|53|57P)/.test(code)) return true
    }
    // Neon's HTTP driver: "Error connecting to database: TypeError: fetch failed" (or "TimeoutError: …", aborted).
    if (/Error connecting to database|fetch failed|Connection terminated|timeout exceeded when trying to connect|Query read timeout/i.test(current.message)) return true
  }
  return false
}
