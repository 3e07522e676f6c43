/**
 * A local stand-in for Neon's serverless HTTP `/sql` endpoint, so tests run the production code path
 * (`neon()` + `drizzle-orm/neon-http`) against a real PostgreSQL. Only the transport is swapped: the driver
 * keeps serializing parameters and parsing values itself, exactly as it does against Neon.
 *
 * Mirrors the protocol as @neondatabase/serverless 1.2.0 speaks it (the version pinned in package.json);
 * re-check the request and response shapes in the driver when that pin moves.
 * See /work/shared/notes/neon-http-protocol.md.
 */
import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { neonConfig } from '@neondatabase/serverless'
import pg from 'pg'

export interface NeonStandIn {
  /** A Neon-looking connection string (host under neon.tech) to give to the app as DATABASE_URL. */
  connectionString: string
  /** The loopback URL of the /sql endpoint. */
  endpoint: string
  /** Stops answering: closes the HTTP server (later fetches fail as if Neon were unreachable). */
  close(): Promise<void>
}

interface QueryData {
  query: string
  params?: unknown[]
  /** Overrides the Neon-Array-Mode header for this query. */
  arrayMode?: boolean
}

/** Neon's Neon-Batch-Isolation-Level header values; anything else is refused, as Neon does. */
const ISOLATION_LEVELS = new Map([
  ['ReadUncommitted', 'READ UNCOMMITTED'],
  ['ReadCommitted', 'READ COMMITTED'],
  ['RepeatableRead', 'REPEATABLE READ'],
  ['Serializable', 'SERIALIZABLE'],
])

/** The PostgreSQL error fields Neon copies into its 400 body (the driver copies them onto NeonDbError). */
const ERROR_FIELDS = [
  'code', 'detail', 'hint', 'position', 'internalPosition', 'internalQuery', 'severity', 'where',
  'table', 'column', 'schema', 'dataType', 'constraint', 'file', 'line', 'routine',
] as const

/** A refusal of the request itself (not a PostgreSQL error). */
class HttpError extends Error {
  constructor (readonly status: number, message: string) {
    super(message)
  }
}

/**
 * Serves Neon's /sql protocol on 127.0.0.1 (random port) on top of a pg Pool to `postgresUrl`, and points the
 * driver's global neonConfig.fetchEndpoint at it.
 */
export async function startNeonStandIn (postgresUrl: string): Promise<NeonStandIn> {
  const pool = new pg.Pool({
    connectionString: postgresUrl,
    // Neon's compute runs in GMT; it matters wherever a value is read back as text.
    options: '-c TimeZone=GMT',
    // Hand back PostgreSQL's text output untouched: parsing by type OID happens only in the client, as with Neon.
    types: { getTypeParser: () => (value: unknown) => value },
  })
  // An idle connection dropped by the server is discarded by the pool; without a listener it would crash the process.
  pool.on('error', () => {})

  const server = createServer((req, res) => { void answer(pool, postgresUrl, req, res) })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sql`

  // Global to the driver: every neon() client in this process now talks to this server, whatever its host.
  neonConfig.fetchEndpoint = () => endpoint

  return {
    connectionString: 'postgresql://neon:pw@ep-stand-in-123456.us-east-2.aws.neon.tech/neondb?sslmode=require',
    endpoint,
    async close () {
      const closed = new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())))
      // The driver's fetch keeps connections alive; without this, close() would wait for them to time out.
      server.closeAllConnections()
      await closed
      await pool.end()
    },
  }
}

/**
 * Neon drops a request whose client went away (its fetch aborted): a query still waiting for a connection never
 * runs, a running one is cancelled, and a batch is rolled back. So does the stand-in.
 */
async function answer (pool: pg.Pool, postgresUrl: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const abandoned = new AbortController()
  res.on('close', () => res.writableFinished || abandoned.abort())
  const session = () => connectUnlessAbandoned(pool, postgresUrl, abandoned.signal)
  const [status, body] = await handle(session, req).then((result): [number, unknown] => [200, result], errorResponse)
  res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body))
}

/** A pooled connection for one request, whose statement is cancelled if the client goes away; `done` stops that. */
type Session = () => Promise<{ client: pg.PoolClient; done(): void }>

async function connectUnlessAbandoned (pool: pg.Pool, postgresUrl: string, abandoned: AbortSignal): ReturnType<Session> {
  const client = await pool.connect()
  if (abandoned.aborted) {
    client.release()
    throw new HttpError(400, 'Query cancelled, connection was terminated')
  }
  const cancel = () => { void cancelBackend(postgresUrl, (client as unknown as { processID: number }).processID) }
  abandoned.addEventListener('abort', cancel, { once: true })
  // A lost connection also fails the statement running on it; without a listener it would be thrown.
  client.on('error', ignore)
  return {
    client,
    done () {
      abandoned.removeEventListener('abort', cancel)
      client.removeListener('error', ignore)
    },
  }
}

function ignore (): void {}

/** What Neon's proxy sends PostgreSQL for a request its client dropped: a cancel request (here, its SQL form). */
async function cancelBackend (postgresUrl: string, pid: number): Promise<void> {
  const canceller = new pg.Client({ connectionString: postgresUrl, connectionTimeoutMillis: 1000 })
  canceller.on('error', () => {})
  try {
    await canceller.connect()
    await canceller.query('select pg_cancel_backend($1)', [pid])
  } catch {
    // The database may be unreachable: then the statement never arrived either.
  } finally {
    await canceller.end()
  }
}

async function handle (session: Session, req: IncomingMessage): Promise<unknown> {
  if (req.method !== 'POST' || req.url !== '/sql') throw new HttpError(404, 'not found')
  // The driver always asks for raw text; Neon's other mode (values converted to JSON types) is not mirrored.
  if (req.headers['neon-raw-text-output'] !== 'true') throw new HttpError(400, 'the stand-in only serves Neon-Raw-Text-Output: true')
  const arrayMode = req.headers['neon-array-mode'] === 'true'

  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  const payload = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { queries?: QueryData[] } & Partial<QueryData>

  if (Array.isArray(payload.queries)) return { results: await runBatch(session, req, payload.queries, arrayMode) }
  if (typeof payload.query === 'string') {
    const { client, done } = await session()
    let failed: Error | undefined
    try {
      return await runQuery(client, payload as QueryData, arrayMode)
    } catch (error) {
      failed = error as Error
      throw error
    } finally {
      done()
      // As pg's pool.query does: a connection that saw an error is discarded rather than pooled.
      client.release(failed)
    }
  }
  throw new HttpError(400, 'expected a body {query, params} or {queries: [...]}')
}

/** A batch runs on one connection in one transaction, and rolls back on the first error, as on Neon. */
async function runBatch (session: Session, req: IncomingMessage, queries: QueryData[], arrayMode: boolean): Promise<unknown[]> {
  const modes: string[] = []
  const isolation = req.headers['neon-batch-isolation-level']
  if (isolation !== undefined) {
    const level = typeof isolation === 'string' ? ISOLATION_LEVELS.get(isolation) : undefined
    if (!level) throw new HttpError(400, 'invalid isolation level')
    modes.push(`ISOLATION LEVEL ${level}`)
  }
  if (req.headers['neon-batch-read-only'] === 'true') modes.push('READ ONLY')
  if (req.headers['neon-batch-deferrable'] === 'true') modes.push('DEFERRABLE')

  const { client, done } = await session()
  let broken: Error | undefined
  try {
    await client.query(['BEGIN', modes.join(', ')].join(' '))
    const results = []
    for (const query of queries) results.push(await runQuery(client, query, arrayMode))
    await client.query('COMMIT')
    return results
  } catch (error) {
    // If even the ROLLBACK fails, the connection is unusable: release(error) discards it instead of pooling it.
    broken = await client.query('ROLLBACK').then(() => undefined, (rollbackError: Error) => rollbackError)
    throw error
  } finally {
    done()
    client.release(broken)
  }
}

async function runQuery (db: pg.PoolClient, { query, params = [], arrayMode }: QueryData, defaultArrayMode: boolean) {
  // Neon runs every query with the extended protocol, so a multi-statement string fails with 42601.
  // pg would use the simple protocol for an empty `params`; `queryMode` (read by pg 8, missing from @types/pg) forces it.
  const config: pg.QueryArrayConfig & { queryMode: 'extended' } = {
    text: query,
    values: params,
    rowMode: 'array',
    queryMode: 'extended',
  }
  const result = await db.query<unknown[]>(config)
  const rowAsArray = arrayMode ?? defaultArrayMode
  return {
    // pg reads the command tag as Neon does: its first word, and the row count or null when the tag has none.
    command: result.command,
    rowCount: result.rowCount,
    rows: rowAsArray
      ? result.rows
      : result.rows.map((row) => Object.fromEntries(result.fields.map((field, i) => [field.name, row[i]]))),
    fields: result.fields.map(({ name, dataTypeID, tableID, columnID, dataTypeSize, dataTypeModifier }) => ({
      name, dataTypeID, tableID, columnID, dataTypeSize, dataTypeModifier, format: 'text',
    })),
    rowAsArray,
  }
}

function errorResponse (error: unknown): [number, unknown] {
  const message = error instanceof Error ? error.message : String(error)
  if (error instanceof pg.DatabaseError) {
    return [400, { message, ...Object.fromEntries(ERROR_FIELDS.map((field) => [field, error[field] ?? null])) }]
  }
  if (error instanceof HttpError) {
    return [error.status, { message, ...Object.fromEntries(ERROR_FIELDS.map((field) => [field, null])) }]
  }
  return [500, { message }]
}
