import { randomUUID } from 'node:crypto'
import t from 'tap'
import { bearer, buildApp, json } from './support/app.js'

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

t.test('each caller has a budget of RATE_LIMIT_MAX requests per window, then 429', async (t) => {
  const app = await buildApp(t, { RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW: '1 minute' })
  const remaining: string[] = []
  for (let i = 0; i < 3; i++) {
    const response = await app.inject({ url: '/api/tasks', headers: bearer('ann') })
    t.equal(response.statusCode, 200)
    t.equal(response.headers['ratelimit-limit'], '3')
    t.equal(response.headers['ratelimit-reset'], '60')
    remaining.push(response.headers['ratelimit-remaining'] as string)
  }
  t.same(remaining, ['2', '1', '0'], 'RateLimit-Remaining counts down')

  const refused = await app.inject({ method: 'POST', url: '/api/tasks', headers: bearer('ann'), payload: { title: 'one too many' } })
  t.equal(refused.statusCode, 429)
  t.match(refused.headers['content-type'], /^application\/problem\+json/)
  t.equal(refused.headers['retry-after'], '60')
  t.equal(refused.headers['ratelimit-remaining'], '0')
  t.match(json(refused), { status: 429, title: 'Too Many Requests', detail: /at most 3 per 1 minute; retry in 1 minute/, request_id: refused.headers['x-request-id'] })
  t.equal(
    (await app.inject({ url: '/api/tasks', headers: bearer('bob') })).statusCode,
    200,
    'another user has a budget of their own'
  )
})

t.test('a refused request changes nothing, and the budget comes back with the next window', async (t) => {
  const app = await buildApp(t, { RATE_LIMIT_MAX: '1', RATE_LIMIT_WINDOW: '1000' })
  t.equal((await app.inject({ url: '/api/tasks', headers: bearer('ann') })).statusCode, 200)
  const refused = await app.inject({ method: 'POST', url: '/api/tasks', headers: bearer('ann'), payload: { title: 'never stored' } })
  t.equal(refused.statusCode, 429)
  t.equal(refused.headers['retry-after'], '1')
  // The process clock (Date.now, which the code under test reads) a window later, until the test ends.
  const realNow = Date.now
  t.capture(Date, 'now', () => realNow() + 1_100)
  const after = await app.inject({ url: '/api/tasks', headers: bearer('ann') })
  t.equal(after.statusCode, 200, 'a new window, a new budget')
  t.equal(after.headers['x-total-count'], '0', 'the refused create stored nothing')
})

t.test('calls without a valid token are counted against the client IP', async (t) => {
  const app = await buildApp(t, { RATE_LIMIT_MAX: '2' })
  const statuses: number[] = []
  for (const authorization of ['Bearer not-a-token', 'Bearer still.not.one', 'Bearer third']) {
    statuses.push((await app.inject({ url: '/api/tasks', headers: { authorization } })).statusCode)
  }
  t.same(statuses, [401, 401, 429], 'guessing tokens is limited like anything else')
  t.equal((await app.inject({ url: '/api/tasks' })).statusCode, 429, 'no token at all: the same IP budget')
  t.equal((await app.inject({ url: '/api/tasks', headers: bearer('ann') })).statusCode, 200, 'a verified caller is counted by user, not IP')
  const fromElsewhere = await app.inject({ url: '/api/tasks', remoteAddress: '203.0.113.9', headers: { authorization: 'Bearer x' } })
  t.equal(fromElsewhere.statusCode, 401, 'another IP has a budget of its own')
})

t.test('operations, docs and CORS preflights are not limited', async (t) => {
  const app = await buildApp(t, { RATE_LIMIT_MAX: '1' })
  for (let i = 0; i < 3; i++) {
    for (const url of ['/health', '/ready', '/docs/json']) {
      const response = await app.inject({ url })
      t.equal(response.statusCode, 200, url)
      t.notOk(response.headers['ratelimit-limit'], `${url} carries no RateLimit headers`)
    }
    const preflight = await app.inject({
      method: 'OPTIONS',
      url: '/api/tasks',
      headers: { origin: 'http://localhost:3000', 'access-control-request-method': 'POST' },
    })
    t.equal(preflight.statusCode, 204, 'preflight')
  }
})

t.test('with REDIS_URL, instances share one budget', async (t) => {
  const user = `shared-${randomUUID()}`
  const settings = { RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW: '10 seconds', REDIS_URL }
  const first = await buildApp(t, settings)
  const second = await buildApp(t, settings)
  const statuses = []
  for (const app of [first, second, first, second]) statuses.push((await app.inject({ url: '/api/tasks', headers: bearer(user) })).statusCode)
  t.same(statuses, [200, 200, 200, 429], 'the fourth request is refused, whichever instance it reaches')
  const refused = await second.inject({ url: '/api/tasks', headers: bearer(user) })
  t.equal(refused.headers['ratelimit-limit'], '3')
  t.ok(Number(refused.headers['retry-after']) <= 10, 'Retry-After is within the window')
})

t.test('when Redis cannot be reached, requests go through unlimited instead of failing', async (t) => {
  // Nothing listens on port 1.
  const app = await buildApp(t, { RATE_LIMIT_MAX: '1', REDIS_URL: 'redis://127.0.0.1:1' })
  for (let i = 0; i < 3; i++) t.equal((await app.inject({ url: '/api/tasks', headers: bearer('ann') })).statusCode, 200)
})

t.test('a body over BODY_LIMIT is a 413 problem and writes nothing', async (t) => {
  const app = await buildApp(t, { BODY_LIMIT: '256' })
  const title = 'x'.repeat(200)
  const fits = await app.inject({ method: 'POST', url: '/api/tasks', headers: bearer('ann'), payload: { title } })
  t.equal(fits.statusCode, 201, 'a body under the limit is fine')
  const tooLarge = await app.inject({
    method: 'POST',
    url: '/api/tasks',
    headers: bearer('ann'),
    payload: { title, description: 'y'.repeat(100) },
  })
  t.equal(tooLarge.statusCode, 413)
  t.match(tooLarge.headers['content-type'], /^application\/problem\+json/)
  t.match(json(tooLarge), { status: 413, title: 'Payload Too Large', request_id: tooLarge.headers['x-request-id'] })
  const id = fits.json().id
  const put = await app.inject({ method: 'PUT', url: `/api/tasks/${id}`, headers: bearer('ann'), payload: { description: 'z'.repeat(300) } })
  t.equal(put.statusCode, 413, 'updates too')
  t.equal((await app.inject({ url: '/api/tasks', headers: bearer('ann') })).headers['x-total-count'], '1')
  t.equal((await app.inject({ url: `/api/tasks/${id}`, headers: bearer('ann') })).json().description, null, 'the task is untouched')
})
