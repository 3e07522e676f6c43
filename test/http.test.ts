import Fastify from 'fastify'
import t from 'tap'
import app, { serverOptions } from '../src/app.js'
import { bearer, buildApp, json, listen, testConfig, type TaskJson } from './support/app.js'
import { forEachDriver } from './support/drivers.js'
import { answersLikeEveryOther, parseHead, problemIn, rawExchange, REQUEST_ID } from './support/raw-http.js'

const PROBLEM = /^application\/problem\+json/

t.test('request ids', async (t) => {
  const server = await buildApp(t)
  const generated = await server.inject({ url: '/health' })
  t.match(generated.headers['x-request-id'], /^[0-9a-f-]{36}$/, 'generated when none is sent')
  const kept = await server.inject({ url: '/health', headers: { 'x-request-id': 'req-123.abc:1' } })
  t.equal(kept.headers['x-request-id'], 'req-123.abc:1', "the caller's sane id is kept")
  for (const insane of ['<script>', 'a'.repeat(129), 'two words']) {
    const replaced = await server.inject({ url: '/health', headers: { 'x-request-id': insane } })
    t.not(replaced.headers['x-request-id'], insane)
    t.match(replaced.headers['x-request-id'], /^[0-9a-f-]{36}$/, 'an unsafe id is replaced')
  }
  const problem = await server.inject({ url: '/api/tasks', headers: { 'x-request-id': 'trace-me' } })
  t.equal(problem.headers['x-request-id'], 'trace-me')
  t.equal(json(problem).request_id, 'trace-me', 'problems carry the request id too')
})

t.test('unknown routes and malformed URLs are problem documents', async (t) => {
  const server = await buildApp(t)
  const cases = [
    { url: '/nope', status: 404, title: 'Not Found' },
    { url: '/api/nope/deeper/still', status: 404, title: 'Not Found' },
    { url: '/api/tasks/%E0%A4%A', status: 400, title: 'Bad Request' },
    { url: `/api/tasks/${'a'.repeat(300)}`, status: 414, title: 'URI Too Long' },
    { url: `/api/${'a'.repeat(256)}/tasks`, status: 414, title: 'URI Too Long' },
    { url: '/docs/%E0%A4%A', status: 400, title: 'Bad Request' },
  ]
  for (const { url, status, title } of cases) {
    const response = await server.inject({ url, headers: bearer('someone') })
    t.equal(response.statusCode, status, url.slice(0, 40))
    t.match(response.headers['content-type'], PROBLEM)
    t.match(json(response), { type: 'about:blank', title, status, request_id: response.headers['x-request-id'] })
    answersLikeEveryOther(t, response.headers, { api: url.startsWith('/api/') }, url.slice(0, 40))
  }
  const wrongMethod = await server.inject({ method: 'POST', url: '/api/tasks/01900000-0000-7000-8000-000000000000', headers: bearer('someone') })
  t.equal(wrongMethod.statusCode, 404, 'a method a path does not serve is a 404 problem')
  t.match(wrongMethod.headers['content-type'], PROBLEM)
})

t.test('an unexpected error is a 500 problem with a request id and nothing else', async (t) => {
  const server = Fastify(serverOptions)
  server.register(app, { config: testConfig() })
  server.register(async (extra) => {
    extra.get('/explode', async () => {
      throw new Error('relation "users" does not exist: select password from users')
    })
  })
  t.teardown(() => server.close())
  const response = await server.inject({ url: '/explode' })
  t.equal(response.statusCode, 500)
  t.match(response.headers['content-type'], PROBLEM)
  const problem = json(response)
  t.same(problem, {
    type: 'about:blank',
    title: 'Internal Server Error',
    status: 500,
    detail: `Something went wrong on our side. Quote request id ${response.headers['x-request-id']} when reporting it.`,
    request_id: response.headers['x-request-id'],
  })
  t.notMatch(response.body, /users|password|select|at .*\.ts/, 'no SQL, message or stack')
})

t.test('health, readiness and the docs page', async (t) => {
  const server = await buildApp(t)
  const health = await server.inject({ url: '/health' })
  t.equal(health.statusCode, 200)
  t.same(json(health), { status: 'ok' })
  const ready = await server.inject({ url: '/ready' })
  t.equal(ready.statusCode, 200)
  t.same(json(ready), { status: 'ok' })

  const page = await server.inject({ url: '/docs' })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /^text\/html/)
  t.match(page.body, /swagger-ui/i)
})

t.test('CORS', async (t) => {
  const server = await buildApp(t, { CORS_ORIGINS: 'http://localhost:3000, https://app.example.com' })
  const preflight = await server.inject({
    method: 'OPTIONS',
    url: '/api/tasks',
    headers: {
      origin: 'https://app.example.com',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, content-type',
    },
  })
  t.equal(preflight.statusCode, 204, 'a preflight needs no token')
  t.equal(preflight.headers['access-control-allow-origin'], 'https://app.example.com')
  t.equal(preflight.headers['access-control-allow-credentials'], 'true')
  t.match(preflight.headers['access-control-allow-methods'], /GET.*POST.*PUT.*PATCH.*DELETE/)
  t.match(preflight.headers['access-control-allow-headers'], /Authorization.*Content-Type.*If-Match.*If-None-Match.*Idempotency-Key.*X-Request-Id/)

  const actual = await server.inject({ url: '/api/tasks', headers: { origin: 'http://localhost:3000', ...bearer('cors-user') } })
  t.equal(actual.statusCode, 200)
  t.equal(actual.headers['access-control-allow-origin'], 'http://localhost:3000')
  t.equal(actual.headers['access-control-allow-credentials'], 'true')
  t.equal(
    actual.headers['access-control-expose-headers'],
    'Link, X-Total-Count, ETag, Location, Idempotency-Replayed, X-Request-Id, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset',
    'what a page needs, the rate limit headers the docs tell it to honour included'
  )

  const foreignPreflight = await server.inject({
    method: 'OPTIONS',
    url: '/api/tasks',
    headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'GET' },
  })
  t.notOk(foreignPreflight.headers['access-control-allow-origin'], 'another origin is not allowed')
  const foreign = await server.inject({ url: '/api/tasks', headers: { origin: 'https://evil.example.com', ...bearer('cors-user') } })
  t.notOk(foreign.headers['access-control-allow-origin'])
  t.not(foreign.headers['access-control-allow-origin'], '*')
})

t.test('security headers: nothing loads from a JSON answer; the docs page runs only its own scripts', async (t) => {
  const server = await buildApp(t, { PUBLIC_URL: 'https://tasks.example.com/v1' })
  for (const url of ['/api/tasks', '/health', '/no-such-route']) {
    const response = await server.inject({ url, headers: bearer('headers-user') })
    t.equal(response.headers['content-security-policy'], "default-src 'none';frame-ancestors 'none';base-uri 'none';form-action 'none'", url)
    t.equal(response.headers['x-content-type-options'], 'nosniff')
    t.equal(response.headers['x-frame-options'], 'DENY')
    t.equal(response.headers['referrer-policy'], 'no-referrer')
    t.match(response.headers['strict-transport-security'], /^max-age=\d+/)
    t.equal(response.headers['cross-origin-resource-policy'], 'same-origin')
    t.notOk(response.headers['x-xss-protection'], 'headers that act only on rendered pages stay off JSON answers')
  }
  const docs = await server.inject({ url: '/docs' })
  t.equal(docs.headers['x-content-type-options'], 'nosniff', 'the docs page has the API set')
  t.equal(docs.headers['cross-origin-opener-policy'], 'same-origin', 'and the set for rendered pages')
  t.equal(docs.headers['x-xss-protection'], '0')
  t.equal(docs.headers['origin-agent-cluster'], '?1')
  const policy = Object.fromEntries(
    String(docs.headers['content-security-policy'])
      .split(';')
      .map((directive) => directive.trim().split(/\s+/))
      .filter(([name]) => name)
      .map(([name, ...sources]) => [name, sources])
  )
  t.same(policy['script-src'], ["'self'"], 'no inline or foreign scripts')
  t.same(policy['connect-src'], ["'self'", 'https://tasks.example.com'], '"Try it out" may call this server and PUBLIC_URL')
  t.same(policy['frame-ancestors'], ["'none'"])
  t.same(policy['object-src'], ["'none'"])
})

t.test('requests the HTTP parser refuses still get a problem document', async (t) => {
  const port = Number(new URL(await listen(await buildApp(t))).port)

  const malformed = await rawExchange(port, 'GET /api/tasks HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n')
  t.match(malformed, /^HTTP\/1\.1 400 Bad Request\r\n/)
  t.match(problemIn(malformed), { type: 'about:blank', title: 'Bad Request', status: 400, request_id: REQUEST_ID })
  answersLikeEveryOther(t, parseHead(malformed), { api: true }, 'malformed')
  t.equal(parseHead(malformed)['x-request-id'], problemIn(malformed).request_id, 'the request id in the header and the body')

  const oversized = await rawExchange(port, `GET /api/tasks HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`)
  t.match(oversized, /^HTTP\/1\.1 431 /)
  t.match(problemIn(oversized), { status: 431, title: 'Request Header Fields Too Large' })
  answersLikeEveryOther(t, parseHead(oversized), { api: true }, 'oversized')

  const longUrl = await rawExchange(port, `GET /api/tasks?q=${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`)
  t.match(longUrl, /^HTTP\/1\.1 431 /, 'a URL longer than the headers may be')
  answersLikeEveryOther(t, parseHead(longUrl), { api: true }, 'long URL')

  // RFC 9112 §3.2: an HTTP/1.1 request without Host is a 400; Node's own answer to it has no body at all.
  const hostless = await rawExchange(port, `GET /api/tasks HTTP/1.1\r\nAuthorization: ${bearer('someone').authorization}\r\n\r\n`)
  t.match(hostless, /^HTTP\/1\.1 400 Bad Request\r\n/)
  t.match(problemIn(hostless), { status: 400, title: 'Bad Request', detail: /Host/, request_id: REQUEST_ID })
  answersLikeEveryOther(t, parseHead(hostless), { api: true }, 'without Host')
  const http10 = await rawExchange(port, `GET /api/tasks HTTP/1.0\r\nAuthorization: ${bearer('someone').authorization}\r\n\r\n`)
  t.match(http10, /^HTTP\/1\.1 200 OK\r\n/, 'HTTP/1.0 has no Host header to require')
})

t.test('every /api answer carries Cache-Control: no-store', async (t) => {
  const server = await buildApp(t, { RATE_LIMIT_MAX: '3' })
  const ann = bearer('cache-ann')
  const created = await server.inject({ method: 'POST', url: '/api/tasks', headers: ann, payload: { title: 'personal' } })
  const task = json<TaskJson>(created)
  const bob = bearer('cache-bob')
  const cy = bearer('cache-cy')
  const doomed = json<TaskJson>(await server.inject({ method: 'POST', url: '/api/tasks', headers: cy, payload: { title: 'doomed' } }))
  const answers = {
    '201 created': created,
    '200 one task': await server.inject({ url: `/api/tasks/${task.id}`, headers: ann }),
    '304 not modified': await server.inject({ url: `/api/tasks/${task.id}`, headers: { ...ann, 'if-none-match': created.headers.etag as string } }),
    '429 rate limited': await server.inject({ url: '/api/tasks', headers: ann }),
    '200 list': await server.inject({ url: '/api/cache-bob/tasks?limit=5', headers: bob }),
    '404 no such task': await server.inject({ url: '/api/tasks/01900000-0000-7000-8000-000000000000', headers: bob }),
    '204 deleted': await server.inject({ method: 'DELETE', url: `/api/tasks/${doomed.id}`, headers: cy }),
    '401 no token': await server.inject({ url: '/api/tasks' }),
    '422 invalid query': await server.inject({ url: '/api/tasks?limit=0', headers: bearer('cache-dee') }),
    '404 unknown route': await server.inject({ url: '/api/nothing/here/at/all', headers: bearer('cache-dee') }),
    '404 /api itself': await server.inject({ url: '/api' }),
  }
  for (const [what, response] of Object.entries(answers)) {
    t.equal(`${response.statusCode} ${what.slice(4)}`, what, what)
    t.equal(response.headers['cache-control'], 'no-store', `${what}: no-store`)
  }
})

forEachDriver(t, async (t, databaseUrl) => {
  const server = await buildApp(t, { DATABASE_URL: databaseUrl })
  // 255 characters each; the second needs percent-encoding in a path, the router's own delimiters included.
  const ids = ['u'.repeat(255), 'Zoë /?#%&+'.repeat(26).slice(0, 255)]
  for (const id of ids) {
    t.test(`a user id of 255 characters works in both path styles: ${id.slice(0, 12)}…`, async (t) => {
      const auth = bearer(id)
      const base = `/api/${encodeURIComponent(id)}/tasks`
      const created = await server.inject({ method: 'POST', url: base, headers: auth, payload: { title: 'long owner' } })
      t.equal(created.statusCode, 201, 'created through /api/{user_id}/tasks')
      const task = json<TaskJson>(created)
      t.equal(task.user_id, id, 'owned by exactly that id')
      const listed = await server.inject({ url: base, headers: auth })
      t.equal(listed.statusCode, 200)
      t.same(json<TaskJson[]>(listed).map(({ id }) => id), [task.id], 'listed through /api/{user_id}/tasks')
      const one = await server.inject({ url: `${base}/${task.id}`, headers: auth })
      t.equal(one.statusCode, 200, 'read through /api/{user_id}/tasks/{id}')
      const completed = await server.inject({ method: 'PATCH', url: `${base}/${task.id}/complete`, headers: auth })
      t.equal(json<TaskJson>(completed).completed, true, 'completed through /api/{user_id}/tasks/{id}/complete')
      const viaToken = await server.inject({ url: `/api/tasks/${task.id}`, headers: auth })
      t.equal(json<TaskJson>(viaToken).user_id, id, 'the same task through /api/tasks/{id}')
      const other = await server.inject({ url: base, headers: bearer(`${id.slice(0, 254)}x`) })
      t.equal(other.statusCode, 403, 'another 255-character user is not that user')
    })
  }
})
