import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { createClient } from '@hey-api/openapi-ts'
import openapiTS, { astToString, type OpenAPI3 } from 'openapi-typescript'
import { bearer, buildApp, json, type TaskJson } from './support/app.js'
import { cleanEnv, runNode, SCRIPTS, tempDir } from './support/process.js'

const ROOT = new URL('../', import.meta.url).pathname
const COMMITTED = join(ROOT, 'openapi.json')
const BIN = join(ROOT, 'node_modules/.bin')
/** Response headers sent only sometimes: CORS needs an Origin, Link a next page, Idempotency-Replayed a replay. */
const OCCASIONAL_HEADERS = ['Access-Control-Allow-Origin', 'Link', 'Idempotency-Replayed']

interface Operation {
  operationId: string
  tags?: string[]
  summary?: string
  description?: string
  security?: unknown[]
  parameters?: { name: string; in: string; required?: boolean }[]
  responses: Record<string, { description: string; headers?: Record<string, unknown>; content?: Record<string, { schema: unknown }> }>
}
interface Document {
  openapi: string
  info: { title: string; version: string; license?: unknown }
  servers: { url: string; description: string }[]
  security: unknown[]
  components: {
    schemas: Record<string, { examples?: unknown[]; properties?: Record<string, unknown> }>
    securitySchemes: Record<string, { type: string; scheme: string; bearerFormat: string; description?: string }>
    parameters?: Record<string, unknown>
    headers?: Record<string, unknown>
    responses?: Record<string, unknown>
  }
  paths: Record<string, Record<string, Operation>>
}

const app = await buildApp(t)
const served = (await app.inject({ url: '/docs/json' })).body
/** The document as served: what operations share is written once, in `components`, and referred to. */
const compact = JSON.parse(served) as Document
/** The same document with shared responses, parameters and headers written out where they are used. */
const document = inlined(compact, compact) as Document
const operations = Object.entries(document.paths).flatMap(([path, methods]) =>
  Object.entries(methods).map(([method, operation]) => ({ path, method: method.toUpperCase(), operation }))
)
const operation = (id: string) => operations.find(({ operation }) => operation.operationId === id)!.operation

/** `value` with each `$ref` to a shared response, parameter or header replaced by what it refers to; schema references stay. */
function inlined (value: unknown, root: Document): unknown {
  if (Array.isArray(value)) return value.map((item) => inlined(item, root))
  if (value === null || typeof value !== 'object') return value
  const { $ref } = value as { $ref?: unknown }
  if (typeof $ref === 'string' && /^#\/components\/(responses|parameters|headers)\//.test($ref)) {
    const target = $ref.slice(2).split('/').reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], root)
    if (target === undefined) throw new Error(`${$ref} refers to nothing`)
    return inlined(target, root)
  }
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, inlined(item, root)]))
}

t.test('the served document is the committed openapi.json, byte for byte', async (t) => {
  const committed = await readFile(COMMITTED, 'utf8')
  t.equal(`${JSON.stringify(compact, null, 2)}\n`, committed, 'the contract changed: run `npm run openapi` and commit openapi.json')
})

t.test('`npm run openapi` writes that document', async (t) => {
  const output = join(await tempDir(t), 'openapi.json')
  const run = await runNode(t, SCRIPTS.openapi, [output], { cwd: ROOT })
  t.equal(run.code, 0, run.stderr)
  t.equal(await readFile(output, 'utf8'), await readFile(COMMITTED, 'utf8'))
})

t.test('OpenAPI 3.1 with every operation named, tagged, summarized and described', async (t) => {
  t.equal(document.openapi, '3.1.0')
  const expected = [
    'getHealth', 'getReadiness',
    ...['listTasks', 'createTask', 'getTask', 'updateTask', 'deleteTask', 'setTaskCompletion', 'getTaskStats', 'clearCompletedTasks', 'listTaskChanges'].flatMap(
      (name) => [name, `${name}ForUser`]
    ),
  ]
  t.same(operations.map(({ operation }) => operation.operationId).sort(), expected.sort(), 'unique operation ids, one per operation')
  for (const { path, method, operation } of operations) {
    t.ok(operation.tags?.length === 1 && operation.summary && operation.description, `${method} ${path}: a tag, a summary and a description`)
  }
})

t.test('named components for every public shape, with examples, and no anonymous copies', async (t) => {
  const names = ['Priority', 'Recurrence', 'Task', 'TaskCreate', 'TaskUpdate', 'TaskCompletion', 'TaskStats', 'TaskDeletion', 'TaskChanges', 'Tombstone', 'Problem', 'ValidationProblem', 'FieldError', 'HealthStatus']
  t.same(Object.keys(document.components.schemas).sort(), names.sort())
  for (const name of ['Task', 'TaskCreate', 'TaskUpdate', 'TaskCompletion', 'TaskStats', 'TaskDeletion', 'TaskChanges', 'Tombstone', 'Problem', 'ValidationProblem']) {
    t.ok(document.components.schemas[name]!.examples?.length, `${name} has an example`)
  }
  t.notMatch(served, /def-\d/, 'no def-N names')
  const taskShape = JSON.stringify((document.components.schemas.Task as { properties: unknown }).properties)
  t.equal(served.split(taskShape).length - 1, 1, 'the Task shape appears once; everything else refers to it')
})

t.test('a compact document: at most 80 KB minified, what operations share written once in components', async (t) => {
  const size = Buffer.byteLength(JSON.stringify(compact))
  t.ok(size <= 80 * 1024, `${size} bytes minified, within 80 KB`)
  for (const kind of ['headers', 'responses', 'parameters'] as const) {
    const defined = Object.keys(compact.components[kind] ?? {}).sort()
    const referenced = [...new Set([...served.matchAll(new RegExp(`"#/components/${kind}/([^"]+)"`, 'g'))].map((match) => match[1]!))].sort()
    t.ok(defined.length > 0, `components.${kind} holds something`)
    t.same(referenced, defined, `every one of components.${kind} is referenced, and every reference to one resolves`)
  }
  for (const [name, header] of Object.entries(compact.components.headers ?? {})) {
    t.notOk(OCCASIONAL_HEADERS.includes(name), `${name}, a shared header, is one every answer of its operations sends`)
    t.match(header, { required: true }, `${name} is typed as always sent`)
  }
  const compactOperations = Object.values(compact.paths).flatMap((methods) => Object.values(methods))
  for (const { operationId, responses, parameters = [] } of compactOperations) {
    for (const [status, response] of Object.entries(responses)) {
      for (const [name, header] of Object.entries(response.headers ?? {})) {
        // A generator types a referenced header as always sent: those sent only sometimes stay inline, optional.
        if (OCCASIONAL_HEADERS.includes(name)) t.notOk('$ref' in (header as object), `${operationId} ${status}: ${name}, sent only sometimes, inline`)
        else t.same(header, { $ref: `#/components/headers/${name}` }, `${operationId} ${status}: ${name} refers to its component`)
      }
      // The public probes' few problems are their own (other headers), and stay where they are.
      const api = !['getHealth', 'getReadiness'].includes(operationId)
      if (api && Number(status) >= 400) t.match(response, { $ref: /^#\/components\/responses\// }, `${operationId} ${status}: a shared problem response`)
    }
    const inline = parameters.filter((parameter) => !('$ref' in parameter))
    t.same(inline, [], `${operationId}: every parameter refers to a component (each is taken by several operations)`)
  }
})

t.test('Priority and Recurrence: one named schema each, referenced wherever they are used', async (t) => {
  const { schemas } = compact.components
  t.match(schemas.Priority, { type: 'string', enum: ['low', 'medium', 'high'] })
  t.match(schemas.Recurrence, { type: ['string', 'null'], enum: ['daily', 'weekly', 'monthly', 'yearly', null] })
  for (const name of ['Task', 'TaskCreate', 'TaskUpdate']) {
    t.same(schemas[name]!.properties!.priority, { $ref: '#/components/schemas/Priority' }, `${name}.priority`)
    t.same(schemas[name]!.properties!.recurrence, { $ref: '#/components/schemas/Recurrence' }, `${name}.recurrence`)
  }
  const priorityFilter = document.paths['/api/tasks']!.get!.parameters!.find((parameter) => parameter.name === 'priority') as { schema?: unknown }
  t.match(priorityFilter.schema, { type: 'array', items: { $ref: '#/components/schemas/Priority' } }, 'the list filter takes Priority values')
  t.equal(served.split('"enum":["low","medium","high"]').length - 1, 1, 'the priorities are listed once')
  t.equal(served.split('"enum":["daily","weekly","monthly","yearly",null]').length - 1, 1, 'the recurrences are listed once')
})

t.test('a generated client has one type per enum', async (t) => {
  // openapi-typescript, as the client test uses it: one union type per enum component, used everywhere.
  const types = astToString(await openapiTS(compact as unknown as OpenAPI3, { silent: true }))
  t.equal(types.split('"low" | "medium" | "high"').length - 1, 1, 'one Priority union')
  t.match(types, /\bPriority: "low" \| "medium" \| "high";/, '…named Priority')
  t.equal(types.split('"daily" | "weekly" | "monthly" | "yearly" | null').length - 1, 1, 'one Recurrence union')
  t.match(types, /\bRecurrence: "daily" \| "weekly" \| "monthly" \| "yearly" \| null;/, '…named Recurrence')
})

t.test('a @hey-api/openapi-ts client has one type per enum, as unions and as enums', async (t) => {
  const generated = async (enums: false | 'typescript'): Promise<string> => {
    const output = await tempDir(t)
    await createClient({
      input: COMMITTED,
      output,
      logs: { level: 'silent' },
      plugins: [{ name: '@hey-api/typescript', enums }, '@hey-api/sdk', '@hey-api/client-fetch'],
    })
    return readFile(join(output, 'types.gen.ts'), 'utf8')
  }
  const unions = await generated(false)
  t.same([...unions.matchAll(/export type (\w+) = 'low' \| 'medium' \| 'high';/g)].map((match) => match[1]), ['Priority'])
  t.equal(unions.split("'low' | 'medium' | 'high'").length - 1, 1, 'the priorities are spelled once, in Priority')
  t.same(
    [...unions.matchAll(/export type (\w+) = 'daily' \| 'weekly' \| 'monthly' \| 'yearly' \| null;/g)].map((match) => match[1]),
    ['Recurrence']
  )
  t.equal(unions.split("'daily' | 'weekly' | 'monthly' | 'yearly'").length - 1, 1, 'the recurrences are spelled once, in Recurrence')
  // As TypeScript enums: Priority becomes one; Recurrence, which allows null, stays the one union.
  const enums = await generated('typescript')
  t.same([...enums.matchAll(/export enum (\w+) \{[^}]*= 'low'/g)].map((match) => match[1]), ['Priority'], 'one enum of priorities')
  t.equal(enums.split("= 'low'").length - 1, 1, 'the priorities are spelled once, in the enum')
  t.equal(enums.split("'daily' | 'weekly' | 'monthly' | 'yearly' | null").length - 1, 1, 'one Recurrence union')
})

t.test('the Authorize dialog says where a token comes from', async (t) => {
  const { description = '' } = compact.components.securitySchemes.bearer!
  t.match(description, 'Development token for user "dev-user"', 'the token `npm start` prints, in its words')
  t.match(description, '`npm run token -- <user-id>`')
  t.match(description, '`GET /api/auth/token`', "Better Auth's JWT plugin, in production")
})

t.test('a bearer JWT scheme on every /api operation; the public routes say security: []', async (t) => {
  t.match(document.components.securitySchemes.bearer, { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
  t.same(document.security, [{ bearer: [] }])
  for (const { path, method, operation } of operations) {
    if (path.startsWith('/api/')) t.equal(operation.security, undefined, `${method} ${path} inherits the bearer scheme`)
    else t.same(operation.security, [], `${method} ${path} is public`)
  }
})

t.test('every response an operation can give, with its media type and headers', async (t) => {
  for (const { path, method, operation } of operations) {
    const statuses = Object.keys(operation.responses)
    const api = path.startsWith('/api/')
    const itemRoute = path.endsWith('{id}') || path.endsWith('/complete')
    const takesBody = ['POST', 'PUT', 'PATCH'].includes(method)
    const conditional = itemRoute && method !== 'GET'
    const idempotent = method === 'POST' || (itemRoute && method !== 'GET')
    const mustHave = [
      ...(api ? ['401', '422', '429', '500', '503'] : ['422', '500']),
      ...(itemRoute || path.includes('{user_id}') ? ['403'] : []),
      ...(itemRoute ? ['404'] : []),
      ...(takesBody ? ['400', '413', '415'] : []),
      ...(conditional ? ['412'] : []),
      ...(idempotent ? ['409'] : []),
      ...(path.endsWith('/changes') ? ['410'] : []),
    ]
    for (const status of mustHave) t.ok(statuses.includes(status), `${method} ${path} documents ${status}`)
    for (const [status, response] of Object.entries(operation.responses)) {
      const where = `${method} ${path} ${status}`
      t.not(response.description, 'Default Response', `${where}: described`)
      t.ok(response.headers?.['X-Request-Id'], `${where}: X-Request-Id`)
      if (api) t.ok(response.headers?.['RateLimit-Remaining'], `${where}: RateLimit-*`)
      const mediaTypes = Object.keys(response.content ?? {})
      if (status === '204' || status === '304') t.same(mediaTypes, [], `${where}: no body`)
      else if (Number(status) >= 400) t.same(mediaTypes, ['application/problem+json'], `${where}: a problem`)
      else t.same(mediaTypes, ['application/json'], `${where}: JSON`)
    }
    if (api) t.ok(operation.responses['429']!.headers?.['Retry-After'], `${method} ${path} 429: Retry-After`)
  }
  const headersOf = (id: string, status: string) => Object.keys(operation(id).responses[status]!.headers ?? {})
  for (const [id, status, names] of [
    ['createTask', '201', ['Location', 'ETag']],
    ['listTasks', '200', ['Link', 'X-Total-Count']],
    ['getTask', '200', ['ETag']],
    ['getTask', '304', ['ETag']],
    ['updateTask', '200', ['ETag']],
    ['updateTask', '412', ['ETag']],
    ['setTaskCompletion', '200', ['ETag']],
    ['listTasks', '401', ['WWW-Authenticate']],
    ['getReadiness', '503', ['Retry-After']],
  ] as const) {
    for (const name of names) t.ok(headersOf(id, status).includes(name), `${id} ${status} declares ${name}`)
  }
  const parameter = (id: string, name: string) => operation(id).parameters?.find((candidate) => candidate.name === name)
  for (const id of ['updateTask', 'deleteTask', 'setTaskCompletion']) {
    t.match(parameter(id, 'if-match'), { in: 'header', required: false }, `${id} takes an optional If-Match`)
  }
  for (const [id, status] of [['createTask', '201'], ['updateTask', '200'], ['deleteTask', '204'], ['setTaskCompletion', '200']] as const) {
    t.match(parameter(id, 'idempotency-key'), { in: 'header', required: false }, `${id} takes an optional Idempotency-Key`)
    t.ok(headersOf(id, status).includes('Idempotency-Replayed'), `${id} ${status} declares Idempotency-Replayed`)
  }
  t.match(parameter('getTask', 'if-none-match'), { in: 'header', required: false }, 'getTask takes an optional If-None-Match')
})

/** What the server really sends matches what the document says it can send. */
t.test('the document describes what the server really answers', async (t) => {
  const limited = await buildApp(t, { RATE_LIMIT_MAX: '100', BODY_LIMIT: '1024' })
  const ann = bearer('ann')
  const created = await limited.inject({ method: 'POST', url: '/api/tasks', headers: ann, payload: { title: 'documented' } })
  const id = json<TaskJson>(created).id
  const etag = created.headers.etag as string
  const second = json<TaskJson>(await limited.inject({ method: 'POST', url: '/api/tasks', headers: ann, payload: { title: 'second' } }))
  const exchanges: [string, LightMyRequestResponse][] = [
    ['createTask', created],
    ['listTasks', await limited.inject({ url: '/api/tasks?limit=1', headers: ann })],
    ['getTask', await limited.inject({ url: `/api/tasks/${id}`, headers: ann })],
    ['getTask', await limited.inject({ url: `/api/tasks/${id}`, headers: { ...ann, 'if-none-match': etag } })],
    ['updateTask', await limited.inject({ method: 'PUT', url: `/api/tasks/${id}`, headers: ann, payload: { priority: 'high' } })],
    ['updateTask', await limited.inject({ method: 'PUT', url: `/api/tasks/${id}`, headers: { ...ann, 'if-match': etag }, payload: { priority: 'low' } })],
    ['updateTask', await limited.inject({ method: 'PUT', url: `/api/tasks/${id}`, headers: { ...ann, 'content-type': 'application/json' }, payload: '{' })],
    ['updateTask', await limited.inject({ method: 'PUT', url: `/api/tasks/${id}`, headers: { ...ann, 'content-type': 'text/plain' }, payload: 'hi' })],
    ['updateTask', await limited.inject({ method: 'PUT', url: `/api/tasks/${id}`, headers: ann, payload: { title: 'x'.repeat(2000) } })],
    ['updateTask', await limited.inject({ method: 'PUT', url: `/api/tasks/${id}`, headers: ann, payload: { title: '' } })],
    ['getTask', await limited.inject({ url: `/api/tasks/${id}`, headers: bearer('bob') })],
    ['getTask', await limited.inject({ url: '/api/tasks/0193a1e2-0000-7000-8000-000000000000', headers: ann })],
    ['listTasks', await limited.inject({ url: '/api/tasks', headers: { authorization: 'Bearer not-a-token' } })],
    ['setTaskCompletion', await limited.inject({ method: 'PATCH', url: `/api/tasks/${id}/complete`, headers: ann })],
    ['getTaskStats', await limited.inject({ url: '/api/tasks/stats', headers: ann })],
    ['clearCompletedTasks', await limited.inject({ method: 'DELETE', url: '/api/tasks?status=completed', headers: ann })],
    ['deleteTask', await limited.inject({ method: 'DELETE', url: `/api/tasks/${second.id}`, headers: ann })],
    ['getHealth', await limited.inject({ url: '/health' })],
    ['getReadiness', await limited.inject({ url: '/ready' })],
  ]
  // Replays: the first response again, marked.
  const keyed = { method: 'POST' as const, url: '/api/tasks', headers: { ...ann, 'idempotency-key': 'documented' }, payload: { title: 'keyed' } }
  await limited.inject(keyed)
  const replays = new Set([await limited.inject(keyed)])
  exchanges.push(['createTask', [...replays][0]!])
  // The change feed, and a token that needs a tombstone the purge took (the app clock moved a day on).
  const changes = await limited.inject({ url: '/api/tasks/changes', headers: ann })
  exchanges.push(['listTaskChanges', changes])
  let clock = Date.now()
  const forgetful = await buildApp(t, { SYNC_RETENTION: '1 day', RATE_LIMIT_MAX: '100' }, { now: () => new Date(clock) })
  const doomed = json<{ id: string }>(await forgetful.inject({ method: 'POST', url: '/api/tasks', headers: ann, payload: { title: 'doomed' } }))
  const token = json<{ next: string }>(await forgetful.inject({ url: '/api/tasks/changes', headers: ann })).next
  await forgetful.inject({ method: 'DELETE', url: `/api/tasks/${doomed.id}`, headers: ann })
  clock += 25 * 60 * 60 * 1000
  await forgetful.purgeExpired()
  exchanges.push(['listTaskChanges', await forgetful.inject({ url: `/api/tasks/changes?since=${token}`, headers: ann })])

  const tight = await buildApp(t, { RATE_LIMIT_MAX: '1' })
  await tight.inject({ url: '/api/tasks', headers: ann })
  exchanges.push(['listTasks', await tight.inject({ url: '/api/tasks', headers: ann })])

  const seen = new Set<string>()
  for (const [id, response] of exchanges) {
    const status = String(response.statusCode)
    seen.add(status)
    const documented = operation(id).responses[status]
    t.ok(documented, `${id} ${status} is documented`)
    if (documented === undefined) continue
    const mediaType = Object.keys(documented.content ?? {})[0]
    if (mediaType === undefined) t.equal(response.body, '', `${id} ${status}: no body`)
    else t.equal(response.headers['content-type']?.toString().split(';')[0], mediaType, `${id} ${status}: ${mediaType}`)
    // Access-Control-Allow-Origin needs an Origin; Link needs a next page; both are sent only then.
    // Idempotency-Replayed marks replays only.
    const sentOnlySometimes = [
      'Access-Control-Allow-Origin',
      ...(id === 'listTasks' && status === '200' ? [] : ['Link']),
      ...(replays.has(response) ? [] : ['Idempotency-Replayed']),
    ]
    for (const name of Object.keys(documented.headers ?? {}).filter((header) => !sentOnlySometimes.includes(header))) {
      t.ok(response.headers[name.toLowerCase()] !== undefined, `${id} ${status} sends ${name}`)
    }
  }
  t.same([...seen].sort(), ['200', '201', '204', '304', '400', '401', '403', '404', '410', '412', '413', '415', '422', '429'], 'every kind of answer was tried')
})

t.test('servers come from configuration', async (t) => {
  t.same(document.servers, [{ url: '/', description: 'Local development', 'x-internal': false }], 'by default: wherever the document is served')
  const production = await buildApp(t, { NODE_ENV: 'production', PUBLIC_URL: 'https://tasks.example.com' })
  const { servers } = json<Document>(await production.inject({ url: '/docs/json' }))
  t.same(servers, [{ url: 'https://tasks.example.com', description: 'Production', 'x-internal': false }])
})

const execFileAsync = promisify(execFile)
/** The linters' own output, whatever their exit code. */
async function run (command: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(join(BIN, command), args, {
      cwd: ROOT,
      env: cleanEnv({ REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', HOME: process.env.HOME }),
      maxBuffer: 64 * 1024 * 1024,
    })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const { code, stdout, stderr } = error as { code: number; stdout: string; stderr: string }
    return { code, stdout, stderr }
  }
}

t.test('Redocly lint, recommended rules: 0 errors, 0 warnings', async (t) => {
  const lint = await run('redocly', ['lint', 'openapi.json', '--config', 'test/openapi/redocly.yaml', '--format', 'json'])
  t.equal(lint.code, 0, lint.stderr)
  const { totals } = JSON.parse(lint.stdout) as { totals: { errors: number; warnings: number; ignored: number } }
  t.same(totals, { errors: 0, warnings: 0, ignored: 1 }, 'only the one path overlap the contract decides (see .redocly.lint-ignore.yaml)')
})

t.test('Spectral, spectral:oas and the OWASP ruleset: no errors, no warnings left', async (t) => {
  const output = join(await tempDir(t), 'spectral.json')
  const lint = await run('spectral', ['lint', 'openapi.json', '--ruleset', 'test/openapi/spectral.yaml', '--format', 'json', '--output', output, '--fail-severity', 'hint'])
  const results = JSON.parse(await readFile(output, 'utf8')) as { code: string; message: string; path: string[] }[]
  t.same(
    results.map((result) => `${result.code}: ${result.message} at ${result.path.join('.')}`),
    [],
    'nothing to report'
  )
  t.equal(lint.code, 0, lint.stderr)
})
