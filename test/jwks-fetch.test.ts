import t from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { buildApp, json } from './support/app.js'
import { startBetterAuth } from './support/better-auth.js'
import { buildLoggedApp } from './support/logged-app.js'

/**
 * Fetching the keys of a Better Auth server (contract §8): cached, re-fetched at most once per 30 s (counted from
 * the last attempt, failed or not) when an unknown `kid` arrives, kept while the JWKS is down, and a 503 while no
 * key has ever been fetched. The JWKS is a real loopback HTTP server that counts its requests.
 */

const withToken = (token: string) => ({ authorization: `Bearer ${token}` })

/** The app's clock, moved by hand: the JWKS cooldown reads it, so a test need not wait 30 s. */
function manualClock () {
  let nowMs = Date.now()
  return {
    now: () => new Date(nowMs),
    advance (ms: number) {
      nowMs += ms
    },
  }
}

const COOLDOWN_MS = 30_000
/** pino's number for `warn`. */
const WARN = 40

t.test('the JWKS down with nothing cached is a 503; back up (and the cooldown over), a 200', async (t) => {
  const betterAuth = await startBetterAuth(t)
  const { token } = await betterAuth.tokenFor('outage@example.com')
  const clock = manualClock()
  const app = await buildApp(t, { BETTER_AUTH_URL: betterAuth.baseURL }, { now: clock.now })
  betterAuth.setDown(true)
  const down = await app.inject({ url: '/api/tasks', headers: withToken(token) })
  t.equal(down.statusCode, 503)
  t.equal(down.headers['retry-after'], '5')
  t.match(json(down), { status: 503, title: 'Service Unavailable', detail: /keys/ })
  betterAuth.setDown(false)
  clock.advance(COOLDOWN_MS)
  t.equal((await app.inject({ url: '/api/tasks', headers: withToken(token) })).statusCode, 200)
  betterAuth.setDown(true)
  t.equal((await app.inject({ url: '/api/tasks', headers: withToken(token) })).statusCode, 200, 'cached keys keep working while the JWKS is down')

  clock.advance(COOLDOWN_MS)
  const { userId } = await betterAuth.tokenFor('unknown-kid@example.com')
  const unknownKid = await app.inject({ url: '/api/tasks', headers: withToken(await betterAuth.sign({ sub: userId }, { kid: 'rotated-away' })) })
  t.equal(betterAuth.jwksRequests(), 3, 'an unknown kid after the cooldown tries the JWKS again')
  t.equal(unknownKid.statusCode, 401, 'keys are cached, so a failed re-fetch leaves an unknown kid a 401, not a 503')
  t.match(json(unknownKid), { detail: "The token's key (kid) is not among the keys the auth server publishes." })
})

t.test('unknown kids re-fetch at most once per cooldown; a rotated key is accepted without a restart', async (t) => {
  const betterAuth = await startBetterAuth(t)
  const { token, userId } = await betterAuth.tokenFor('rotation@example.com')
  const clock = manualClock()
  const app = await buildApp(t, { BETTER_AUTH_URL: betterAuth.baseURL }, { now: clock.now })
  t.equal((await app.inject({ url: '/api/tasks', headers: withToken(token) })).statusCode, 200)
  t.equal(betterAuth.jwksRequests(), 1, 'one fetch to learn the keys')

  const flood = await Promise.all(
    Array.from({ length: 50 }, async (_, i) => app.inject({ url: '/api/tasks', headers: withToken(await betterAuth.sign({ sub: userId }, { kid: `invented-${i}` })) }))
  )
  t.ok(flood.every((response) => response.statusCode === 401), 'every invented kid is refused')
  t.equal(betterAuth.jwksRequests(), 1, 'no re-fetch for 50 invented kids within the cooldown')

  clock.advance(COOLDOWN_MS)
  const rotated = await betterAuth.rotate('rotated@example.com', 'ES256')
  const response = await app.inject({ method: 'POST', url: '/api/tasks', headers: withToken(rotated.token), payload: { title: 'after rotation' } })
  t.equal(response.statusCode, 201, 'once the cooldown is over, a token signed with the new key works')
  t.equal(json(response).user_id, rotated.userId)
  t.equal(betterAuth.jwksRequests(), 2, 'after one re-fetch')
  t.equal((await app.inject({ url: '/api/tasks', headers: withToken(token) })).statusCode, 200, 'the old key still works')
})

t.test('before any fetch has succeeded, the cooldown holds from the first attempt: 503s without a new fetch', async (t) => {
  const betterAuth = await startBetterAuth(t)
  const { token, userId } = await betterAuth.tokenFor('first-attempt@example.com')
  betterAuth.setDown(true)
  const clock = manualClock()
  const logged = await buildLoggedApp(t, { BETTER_AUTH_URL: betterAuth.baseURL }, { now: clock.now })
  const { app } = logged
  const fetchFailures = () => logged.lines.filter((line) => line.msg === 'JWKS fetch failed' && line.level === WARN).length
  const unknownKid = async (i: number) => withToken(await betterAuth.sign({ sub: userId }, { kid: `unknown-${i}` }))
  const assertKeysUnavailable = (response: LightMyRequestResponse, what: string) => {
    t.equal(response.statusCode, 503, what)
    t.equal(response.headers['retry-after'], '5', what)
    t.match(json(response), { status: 503, detail: 'The keys to check the token with cannot be fetched right now; try again shortly.' }, what)
  }

  const parallel = await Promise.all(Array.from({ length: 20 }, async (_, i) => app.inject({ url: '/api/tasks', headers: await unknownKid(i) })))
  parallel.forEach((response, i) => assertKeysUnavailable(response, `parallel request ${i}`))
  for (let i = 20; i < 40; i++) assertKeysUnavailable(await app.inject({ url: '/api/tasks', headers: await unknownKid(i) }), `request ${i}`)
  t.equal(betterAuth.jwksRequests(), 1, '40 requests, one fetch')
  t.equal(fetchFailures(), 1, 'one warning for the one failed fetch')

  clock.advance(COOLDOWN_MS - 1)
  assertKeysUnavailable(await app.inject({ url: '/api/tasks', headers: withToken(token) }), 'just before the cooldown ends')
  t.equal(betterAuth.jwksRequests(), 1, 'still one fetch')

  clock.advance(1)
  assertKeysUnavailable(await app.inject({ url: '/api/tasks', headers: withToken(token) }), 'still down at the next attempt')
  t.equal(betterAuth.jwksRequests(), 2, 'the cooldown over, one more fetch')
  t.equal(fetchFailures(), 2)

  betterAuth.setDown(false)
  assertKeysUnavailable(await app.inject({ url: '/api/tasks', headers: withToken(token) }), 'back up, but within the new cooldown')
  t.equal(betterAuth.jwksRequests(), 2)
  clock.advance(COOLDOWN_MS)
  t.equal((await app.inject({ url: '/api/tasks', headers: withToken(token) })).statusCode, 200, 'back up and the cooldown over: served')
  t.equal(betterAuth.jwksRequests(), 3)
})
