import { createHash } from 'node:crypto'
import type { Orm } from '../db/database.js'

/**
 * The most statements the process keeps prepared on its database, across every repository. Any user chooses a
 * request's shape (which fields, which of them null, an Idempotency-Key), and each shape is its own statement: kept
 * without a bound, they grew this process and every pooled connection's PostgreSQL backend without end.
 */
export const MAX_PREPARED_STATEMENTS = 100

/**
 * The statements kept prepared on one database: built once, and named, so that on a server PostgreSQL parses and
 * plans each once per connection. Up to `limit`; past it a statement is built for its one use and runs unnamed
 * (an empty name, which node-postgres sends as PostgreSQL's unnamed statement), kept by neither the driver nor
 * the server. First come, first kept; repositories prepare their single-shape statements when they are made.
 */
export class PreparedStatements {
  private readonly kept = new Map<string, unknown>()

  constructor (private readonly limit: number) {}

  /** How many statements are kept. */
  get size (): number {
    return this.kept.size
  }

  /** The statement of a kind that has one shape: the kept one, or one `prepare` builds under the name it is given. */
  single<T>(kind: string, prepare: (name: string) => T): T {
    return this.kept.has(kind) ? (this.kept.get(kind) as T) : this.keep(kind, kind, prepare)
  }

  /**
   * The statement of this kind and shape: the kept one, or one `prepare` builds from the shape. The shape is both
   * the cache key (as JSON) and all `prepare` is given, so a statement's SQL cannot depend on an input its key
   * leaves out; `prepare` is a function made once, not a closure over a request's values.
   */
  shaped<S, T>(kind: string, shape: S, prepare: (shape: S, name: string) => T): T {
    const key = `${kind} ${JSON.stringify(shape)}`
    const statement = this.kept.get(key) as T | undefined
    return statement ?? this.keep(key, statementName(kind, key), (name) => prepare(shape, name))
  }

  /** Kept under `key` while the bound allows; past it, built unnamed for its one use. */
  private keep<T>(key: string, name: string, prepare: (name: string) => T): T {
    if (this.kept.size >= this.limit) return prepare('')
    const statement = prepare(name)
    this.kept.set(key, statement)
    return statement
  }
}

/** A statement's name: the same for the same SQL in every process, as a shared connection needs. */
function statementName (kind: string, key: string): string {
  return `${kind}_${createHash('sha256').update(key).digest('base64url').slice(0, 24)}`
}

const byDatabase = new WeakMap<Orm, PreparedStatements>()

/** The statements kept for this database, shared by every repository on it (both path styles' routes). */
export function preparedStatementsOf (orm: Orm): PreparedStatements {
  let statements = byDatabase.get(orm)
  if (statements === undefined) {
    statements = new PreparedStatements(MAX_PREPARED_STATEMENTS)
    byDatabase.set(orm, statements)
  }
  return statements
}
