import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { buildApp, json } from './support/app.js'
import { startBetterAuth } from './support/better-auth.js'

/**
 * Fetching the keys of a Better Auth server (contract §8): cached, re-fetched at most once per 30 s when an unknown
 * `kid` arrives, kept while the JWKS is down, and a 503 while no key has ever been fetched.
 */

const withToken = (token: string) => ({ authorization: `Bearer ${token}` })

t.test('the JWKS down with nothing cached is a 503; back up, a 200', async (t) => {
  const betterAuth = await startBetterAuth(t)
  const { token } = await betterAuth.tokenFor('outage@example.com')
  const app = await buildApp(t, { BETTER_AUTH_URL: betterAuth.baseURL })
  betterAuth.setDown(true)
  const down = await app.inject({ url: '/api/tasks', headers: withToken(token) })
  t.equal(down.statusCode, 503)
  t.equal(down.headers['retry-after'], '5')
  t.match(json(down), { status: 503, title: 'Service Unavailable', detail: /keys/ })
  betterAuth.setDown(false)
  t.equal((await app.inject({ url: '/api/tasks', headers: withToken(token) })).statusCode, 200)
  betterAuth.setDown(true)
  t.equal((await app.inject({ url: '/api/tasks', headers: withToken(token) })).statusCode, 200, 'cached keys keep working while the JWKS is down')
})

t.test('unknown kids re-fetch at most once per cooldown; a rotated key is accepted without a restart', async (t) => {
  const betterAuth = await startBetterAuth(t)
  const { token, userId } = await betterAuth.tokenFor('rotation@example.com')
  const app = await buildApp(t, { BETTER_AUTH_URL: betterAuth.baseURL })
  t.equal((await app.inject({ url: '/api/tasks', headers: withToken(token) })).statusCode, 200)
  const afterFirstUse = betterAuth.jwksRequests()
  t.equal(afterFirstUse, 1, 'one fetch to learn the keys')

  const flood = await Promise.all(
    Array.from({ length: 50 }, async (_, i) => app.inject({ url: '/api/tasks', headers: withToken(await betterAuth.sign({ sub: userId }, { kid: `invented-${i}` })) })),
  )
  t.ok(flood.every((response) => response.statusCode === 401), 'every invented kid is refused')
  t.ok(betterAuth.jwksRequests() - afterFirstUse <= 1, `at most one re-fetch for 50 invented kids (got ${betterAuth.jwksRequests() - afterFirstUse})`)

  // The cooldown (30 s) must pass before an unknown kid may trigger a fetch again.
  await sleep(31_000)
  const rotated = await betterAuth.rotate('rotated@example.com', 'ES256')
  const response = await app.inject({ method: 'POST', url: '/api/tasks', headers: withToken(rotated.token), payload: { title: 'after rotation' } })
  t.equal(response.statusCode, 201, 'a token signed with the new key works')
  t.equal(json(response).user_id, rotated.userId)
  t.equal((await app.inject({ url: '/api/tasks', headers: withToken(token) })).statusCode, 200, 'the old key still works')
})
