/**
 * The hand-written ceiling the benchmark compares the API with: a minimal Fastify app (the same fastify), the
 * same token check with the same libraries (HS256 through @fastify/jwt, the JWKS way through jose, verified
 * tokens remembered by the SHA-256 of the token until their `exp`), and the same SQL as the repository
 * (ceiling-sql.ts) sent as named prepared statements through a raw `pg` pool of the API's size, or straight to
 * PGlite. It answers the benchmarked requests with the same JSON and the same headers, the cheapest way (one
 * static object, and a UUID for the request id): the load generator shares the machine's two cores and parses
 * every header in JavaScript, so an answer with fewer headers would be cheaper to receive, not to make. Nothing
 * else: no logger, no rate limiter, no CORS for other origins.
 *
 *   CEILING_DRIVER=pg DATABASE_URL=postgres://… BETTER_AUTH_SECRET=… [BETTER_AUTH_URL=…] PORT=… node --import tsx test/bench/ceiling.ts
 *   CEILING_DRIVER=pglite CEILING_PGLITE_DIR=/path/to/folder …
 */
import { hash, randomUUID } from 'node:crypto'
import fastifyJwt from '@fastify/jwt'
import { PGlite } from '@electric-sql/pglite'
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import pg from 'pg'
import { uuidv7 } from '../../src/db/uuidv7.js'
import { EXPOSED_HEADERS } from '../../src/plugins/cors.js'
import { OpaqueTokens } from '../../src/http/opaque-token.js'
import { API_SECURITY_HEADERS } from '../../src/plugins/security-headers.js'
import {
  completeStatement,
  createStatement,
  DEFAULT_ORDER,
  getStatement,
  listStatement,
  type NewTask,
  type Order,
  type Sort,
  type Statement,
  type Status,
} from './ceiling-sql.js'

/** node-postgres' default pool size, which the API's pool (src/db/database.ts) keeps. */
const POOL_SIZE = 10
/** pg's own per-phase timeouts, near the API's one deadline per query (src/db/deadline.ts): never reached in a bench run. */
const TIMEOUT_MS = 3000
const VERIFIED_TOKENS_KEPT = 10_000
const CLOCK_TOLERANCE_SECONDS = 30
const MAX_USER_ID_LENGTH = 255

type Row = Record<string, unknown>
type Query = (statement: Statement) => Promise<Row[]>

// ---------------------------------------------------------------------------------------------- the database

async function openQuery (): Promise<{ query: Query; close: () => Promise<void> }> {
  if (process.env.CEILING_DRIVER === 'pglite') {
    const client = new PGlite(required('CEILING_PGLITE_DIR'), { extensions: { pg_trgm } })
    await client.waitReady
    return {
      query: async ({ text, values }) => (await client.query<Row>(text, values)).rows,
      close: () => client.close(),
    }
  }
  const pool = new pg.Pool({ connectionString: required('DATABASE_URL'), max: POOL_SIZE, connectionTimeoutMillis: TIMEOUT_MS, query_timeout: TIMEOUT_MS })
  pool.on('error', () => {})
  return {
    query: async (statement) => (await pool.query<Row>(statement)).rows,
    close: () => pool.end(),
  }
}

// ---------------------------------------------------------------------------------------------- the token check

interface Verifier {
  /** The caller's id, or undefined for any token that is not good. */
  (authorization: string | undefined): Promise<string | undefined>
}

function tokenVerifier (app: FastifyInstance): Verifier {
  const secret = process.env.BETTER_AUTH_SECRET
  const authUrl = process.env.BETTER_AUTH_URL
  const origin = authUrl === undefined ? undefined : new URL(authUrl).origin
  const remoteKeys = origin === undefined ? undefined : createRemoteJWKSet(new URL(`${origin}/api/auth/jwks`), { cacheMaxAge: Infinity })
  const verified = new Map<string, { userId: string; expiresAtMs: number }>()

  async function claimsOf (token: string): Promise<Record<string, unknown>> {
    const { alg } = decodeProtectedHeader(token)
    if (alg === 'HS256' && secret !== undefined) return app.jwt.verify<Record<string, unknown>>(token)
    if (alg === 'EdDSA' && remoteKeys !== undefined) {
      const options = { algorithms: ['EdDSA'], issuer: origin, audience: origin, clockTolerance: CLOCK_TOLERANCE_SECONDS, requiredClaims: ['exp', 'sub'] }
      return (await jwtVerify(token, remoteKeys, options)).payload
    }
    throw new Error(`alg ${alg} is not accepted`)
  }

  return async (authorization) => {
    const token = /^Bearer(?: +(.*))?$/i.exec(authorization?.trim() ?? '')?.[1] ?? ''
    if (token === '') return undefined
    const key = hash('sha256', token, 'base64url')
    const known = verified.get(key)
    if (known !== undefined && Date.now() < known.expiresAtMs) return known.userId
    let claims: Record<string, unknown>
    try {
      claims = await claimsOf(token)
    } catch {
      return undefined
    }
    const { sub, iat, exp } = claims
    if (typeof sub !== 'string' || sub === '' || sub.length > MAX_USER_ID_LENGTH) return undefined
    if (iat !== undefined && !(typeof iat === 'number' && iat <= Date.now() / 1000 + CLOCK_TOLERANCE_SECONDS)) return undefined
    if (verified.size >= VERIFIED_TOKENS_KEPT) verified.delete(verified.keys().next().value as string)
    verified.set(key, { userId: sub, expiresAtMs: (exp as number) * 1000 })
    return sub
  }
}

// ---------------------------------------------------------------------------------------------- the answers

/** The API's Task, as plain JSON schema: fast-json-stringify writes Dates as RFC 3339 strings. */
const nullable = (type: string, extra: object = {}) => ({ type: [type, 'null'], ...extra })
const TaskJson = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    user_id: { type: 'string' },
    title: { type: 'string' },
    description: nullable('string'),
    completed: { type: 'boolean' },
    completed_at: nullable('string', { format: 'date-time' }),
    priority: { type: 'string' },
    tags: { type: 'array', items: { type: 'string' } },
    due_date: nullable('string', { format: 'date-time' }),
    recurrence: nullable('string'),
    next_task_id: nullable('string'),
    created_at: { type: 'string', format: 'date-time' },
    updated_at: { type: 'string', format: 'date-time' },
  },
}
const uuid = { type: 'string', format: 'uuid' }
const PRIORITY = { type: 'string', enum: ['low', 'medium', 'high'] }

/** What the API sends on every answer to a request without an Origin, besides its request id. */
const STATIC_HEADERS = {
  ...API_SECURITY_HEADERS,
  'cache-control': 'no-store',
  vary: 'Origin',
  'access-control-allow-credentials': 'true',
  'access-control-expose-headers': EXPOSED_HEADERS,
}

const etagOf = (row: Row) => `"${row.version as number}"`

/** The sealed cursor and the Link header, as src/routes/tasks/list-cursor.ts makes them, with the key the API reads. */
function nextPageLink (tokens: OpaqueTokens, requestUrl: string, userId: string, sort: Sort, order: Order, last: Row): string {
  const url = new URL(requestUrl, 'http://localhost')
  url.searchParams.set('cursor', tokens.seal(`cursor\0${sort}\0${order}\0${userId}`, { k: last.sort_key, i: last.id }))
  return `<${url.pathname}${url.search}>; rel="next"`
}

// ---------------------------------------------------------------------------------------------- the app

async function main (): Promise<void> {
  const { query, close } = await openQuery()
  const [tokenKey] = await query({ name: 'token_key', text: "select key from token_keys where purpose = 'tokens'", values: [] })
  const tokens = new OpaqueTokens(Buffer.from(tokenKey!.key as string, 'hex'))
  const app = Fastify({ logger: false })
  const secret = process.env.BETTER_AUTH_SECRET
  if (secret !== undefined) {
    await app.register(fastifyJwt, {
      secret,
      verify: { algorithms: ['HS256'], requiredClaims: ['exp', 'sub'], clockTolerance: CLOCK_TOLERANCE_SECONDS * 1000 },
    })
  }
  const verify = tokenVerifier(app)

  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(STATIC_HEADERS).header('x-request-id', randomUUID())
    done()
  })
  app.get('/health', async () => ({ status: 'ok' }))

  await app.register(
    async (api) => {
      api.decorateRequest('userId', '')
      api.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
        const userId = await verify(request.headers.authorization)
        if (userId === undefined) return reply.code(401).header('www-authenticate', 'Bearer').send({ status: 401, title: 'Unauthorized' })
        ;(request as FastifyRequest & { userId: string }).userId = userId
      })
      const userOf = (request: FastifyRequest) => (request as FastifyRequest & { userId: string }).userId

      api.get<{ Querystring: { status?: Status; priority?: string[]; sort?: Sort; order?: Order; limit?: number } }>(
        '/tasks',
        {
          schema: {
            querystring: {
              type: 'object',
              additionalProperties: false,
              properties: {
                status: { type: 'string', enum: ['all', 'pending', 'completed'] },
                priority: { type: 'array', items: PRIORITY, minItems: 1, maxItems: 10 },
                sort: { type: 'string', enum: ['created', 'updated', 'title', 'due_date', 'priority'] },
                order: { type: 'string', enum: ['asc', 'desc'] },
                limit: { type: 'integer', minimum: 1, maximum: 500 },
              },
            },
            response: { 200: { type: 'array', items: TaskJson } },
          },
        },
        async (request, reply) => {
          const { status = 'all', priority, sort = 'created', order = DEFAULT_ORDER[sort], limit = 100 } = request.query
          const rows = await query(listStatement(userOf(request), { status, priority, sort, order }, limit))
          const found = rows[0]!.id === null ? [] : rows
          reply.header('x-total-count', String(rows[0]!.total))
          const last = found.length > limit ? found[limit - 1]! : undefined
          if (last !== undefined) reply.header('link', nextPageLink(tokens, request.url, userOf(request), sort, order, last))
          return found.slice(0, limit)
        }
      )

      api.get<{ Params: { id: string } }>(
        '/tasks/:id',
        { schema: { params: { type: 'object', properties: { id: uuid }, required: ['id'] }, response: { 200: TaskJson } } },
        async (request, reply) => {
          const [task] = await query(getStatement(userOf(request), request.params.id))
          if (task === undefined) return reply.code(404).send({ status: 404, title: 'Not Found' })
          return reply.header('etag', etagOf(task)).send(task)
        }
      )

      api.post<{ Body: NewTask & { due_date?: string | null } }>(
        '/tasks',
        {
          schema: {
            body: {
              type: 'object',
              additionalProperties: false,
              required: ['title'],
              properties: {
                title: { type: 'string', minLength: 1, maxLength: 200 },
                description: nullable('string', { minLength: 1, maxLength: 1000 }),
                completed: { type: 'boolean' },
                priority: PRIORITY,
                tags: { type: 'array', maxItems: 20, items: { type: 'string', minLength: 1, maxLength: 32 } },
                due_date: nullable('string', { format: 'date-time' }),
              },
            },
            response: { 201: TaskJson },
          },
        },
        async (request, reply) => {
          const { due_date, ...fields } = request.body
          const task: NewTask = {
            ...fields,
            title: fields.title.trim(),
            ...(due_date !== undefined && { due_date: due_date === null ? null : new Date(due_date) }),
          }
          if (fields.tags !== undefined) task.tags = [...new Set(fields.tags.map((tag) => tag.trim().toLowerCase()))]
          const [created] = await query(createStatement(uuidv7(), userOf(request), task))
          return reply.code(201).header('location', `/api/tasks/${created!.id as string}`).header('etag', etagOf(created!)).send(created)
        }
      )

      api.patch<{ Params: { id: string }; Body: { completed: true } }>(
        '/tasks/:id/complete',
        {
          schema: {
            params: { type: 'object', properties: { id: uuid }, required: ['id'] },
            body: { type: 'object', additionalProperties: false, required: ['completed'], properties: { completed: { const: true } } },
            response: { 200: TaskJson },
          },
        },
        async (request, reply) => {
          const [task] = await query(completeStatement(userOf(request), request.params.id, uuidv7()))
          if (task === undefined) return reply.code(404).send({ status: 404, title: 'Not Found' })
          return reply.header('etag', etagOf(task)).send(task)
        }
      )
    },
    { prefix: '/api' }
  )

  const stop = async () => {
    await app.close()
    await close()
    process.exit(0)
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
  // The API's listen backlog (src/server.ts), so a burst of 1,000 connections is queued alike, not dropped.
  await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 8001), backlog: 4096 })
}

function required (name: string): string {
  const value = process.env[name]
  if (value === undefined || value === '') throw new Error(`${name} is required`)
  return value
}

await main()
