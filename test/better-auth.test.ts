import { createHmac } from 'node:crypto'
import t, { type Test } from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { bearer, buildApp, json, TEST_SECRET, tokenFor } from './support/app.js'
import { startBetterAuth, type BetterAuthAlgorithm } from './support/better-auth.js'
import { assertRefusalLogged, buildLoggedApp, type Refusal } from './support/logged-app.js'

/**
 * Real Better Auth tokens (contract §2): its `jwt()` plugin signs with an asymmetric key and publishes the public
 * half as a JWKS; the API verifies against that JWKS, beside the shared secret.
 */

const INVALID = 'Bearer error="invalid_token"'
const withToken = (token: string) => ({ authorization: `Bearer ${token}` })

function assertRefused (t: Test, response: LightMyRequestResponse, what: string) {
  t.equal(response.statusCode, 401, what)
  t.equal(response.headers['www-authenticate'], INVALID, what)
  t.match(response.headers['content-type'], /^application\/problem\+json/)
}

/** An HS256 token signed with `key`, built by hand so any header and payload can be sent. */
function hs256 (payload: object, key: string | Buffer): string {
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const unsigned = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode(payload)}`
  return `${unsigned}.${createHmac('sha256', key).update(unsigned).digest('base64url')}`
}

t.test('a Better Auth token of each algorithm is accepted and its sub owns the tasks', async (t) => {
  // One auth server publishing a key of each algorithm, as during rotations, so one app (one JWKS fetch) checks all.
  const others: BetterAuthAlgorithm[] = ['ES256', 'ES512', 'RS256', 'PS256']
  const betterAuth = await startBetterAuth(t, 'EdDSA')
  const signedIn = [{ alg: 'EdDSA', ...(await betterAuth.tokenFor('eddsa@example.com')) }]
  for (const alg of others) signedIn.push({ alg, ...(await betterAuth.rotate(`${alg.toLowerCase()}@example.com`, alg)) })
  const app = await buildApp(t, { BETTER_AUTH_URL: betterAuth.baseURL })
  for (const { alg, token, userId } of signedIn) {
    t.test(alg, async (t) => {
      t.equal(JSON.parse(Buffer.from(token.split('.')[0] as string, 'base64url').toString()).alg, alg, 'signed with it')
      const created = await app.inject({ method: 'POST', url: '/api/tasks', headers: withToken(token), payload: { title: alg } })
      t.equal(created.statusCode, 201)
      t.equal(json(created).user_id, userId)
      const viaUserPath = await app.inject({ url: `/api/${userId}/tasks`, headers: withToken(token) })
      t.same(json<{ title: string }[]>(viaUserPath).map((task) => task.title), [alg])
    })
  }
})

t.test('refusals, with the JWKS and the shared secret both configured: each says why, and is logged at info', async (t) => {
  const betterAuth = await startBetterAuth(t)
  const logged = await buildLoggedApp(t, { BETTER_AUTH_URL: betterAuth.baseURL })
  const { app } = logged
  const { token, userId } = await betterAuth.tokenFor('victim@example.com')
  t.equal((await app.inject({ url: '/api/tasks', headers: withToken(token) })).statusCode, 200, 'the genuine token works')
  t.equal((await app.inject({ url: '/api/tasks', headers: bearer('shared-secret-user') })).statusCode, 200, 'so does a shared-secret token')

  const [header, payload, signature] = token.split('.') as [string, string, string]
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString())
  const publicKey = await betterAuth.publicKey()
  const now = Math.floor(Date.now() / 1000)
  const origin = betterAuth.baseURL
  const badSignature = { reason: 'signature', detail: "The token's signature does not verify." }
  const noSubject = { reason: 'no_subject', detail: 'The token has no subject (sub).' }
  const cases: [string, string, Refusal][] = [
    ['wrong iss', await betterAuth.sign({ sub: userId, iss: 'https://evil.example.com' }), { reason: 'issuer', detail: `The token's issuer (iss) is not "${origin}", the one this API expects.` }],
    ['no iss', await betterAuth.sign({ sub: userId, iss: undefined }), { reason: 'issuer', detail: `The token has no issuer (iss); this API expects "${origin}".` }],
    ['wrong aud', await betterAuth.sign({ sub: userId, aud: 'https://other-api.example.com' }), { reason: 'audience', detail: `The token's audience (aud) does not include "${origin}", the one this API expects.` }],
    ['expired', await betterAuth.sign({ sub: userId, iat: now - 3600, exp: now - 600 }), { reason: 'expired', detail: 'The token has expired.' }],
    ['nbf in the future', await betterAuth.sign({ sub: userId, nbf: now + 600 }), { reason: 'not_yet_valid', detail: 'The token is not valid yet: its nbf (not before) is in the future.' }],
    ['iat in the future', await betterAuth.sign({ sub: userId, iat: now + 600 }), { reason: 'not_yet_valid', detail: 'The token is not valid yet: its iat (issued at) is in the future.' }],
    ['exp not a number', await betterAuth.sign({ sub: userId, exp: 'soon' as unknown as number }), { reason: 'claim', detail: "The token's exp claim is not a number of seconds since the epoch." }],
    ['no sub', await betterAuth.sign({}), noSubject],
    ['no exp', await betterAuth.sign({ sub: userId, exp: undefined }), { reason: 'no_expiry', detail: 'The token has no expiry (exp).' }],
    ['tampered payload', `${header}.${Buffer.from(JSON.stringify({ ...claims, sub: 'someone-else' })).toString('base64url')}.${signature}`, badSignature],
    ['tampered signature', `${header}.${payload}.${signature.slice(0, -4)}${signature.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`, badSignature],
    ['a kid absent from the JWKS', await betterAuth.sign({ sub: userId }, { kid: 'invented-kid' }), { reason: 'unknown_key', detail: "The token's key (kid) is not among the keys the auth server publishes." }],
    ['HS256 signed with the public key (algorithm confusion)', hs256({ sub: userId, exp: now + 600 }, JSON.stringify(publicKey)), badSignature],
    ['HS256 signed with the public key bytes', hs256({ sub: userId, exp: now + 600 }, Buffer.from(String(publicKey.x ?? publicKey.n), 'base64url')), badSignature],
    ['alg none', `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${payload}.`, { reason: 'algorithm', detail: "The token's algorithm (alg) is not one this API accepts: HS256, EdDSA, ES256, ES512, RS256, PS256." }],
    ['not a JWT', 'Better-Auth-session-token', { reason: 'malformed', detail: 'The token is not a well-formed JWT.' }],
    ['a JWT header and nothing else', `${header}.${payload}`, { reason: 'malformed', detail: 'The token is not a well-formed JWT.' }],
    ["HS256 signed with the secret but no sub (like Better Auth's session_data)", hs256({ session: { id: 's' }, exp: now + 600 }, TEST_SECRET), noSubject],
  ]
  for (const [name, forged, refusal] of cases) {
    t.test(name, async (t) => {
      const response = await app.inject({ url: '/api/tasks', headers: withToken(forged) })
      assertRefused(t, response, name)
      assertRefusalLogged(t, logged, response, forged, refusal)
    })
  }
})

t.test('JWKS only: HS256 tokens are refused, whoever signed them', async (t) => {
  const betterAuth = await startBetterAuth(t)
  const logged = await buildLoggedApp(t, { BETTER_AUTH_URL: betterAuth.baseURL, BETTER_AUTH_SECRET: undefined })
  const { token } = await betterAuth.tokenFor('only@example.com')
  t.equal((await logged.app.inject({ url: '/api/tasks', headers: withToken(token) })).statusCode, 200)
  const hs = tokenFor('someone')
  const response = await logged.app.inject({ url: '/api/tasks', headers: withToken(hs) })
  assertRefused(t, response, 'HS256 with no secret configured')
  assertRefusalLogged(t, logged, response, hs, {
    reason: 'algorithm',
    detail: "The token's algorithm (alg) is not one this API accepts: EdDSA, ES256, ES512, RS256, PS256.",
  })
})

t.test('JWKS_URL with an explicit issuer and audience', async (t) => {
  const betterAuth = await startBetterAuth(t)
  const app = await buildApp(t, {
    JWKS_URL: `${betterAuth.baseURL}/api/auth/jwks`,
    JWT_ISSUER: betterAuth.baseURL,
    JWT_AUDIENCE: betterAuth.baseURL,
  })
  const { token } = await betterAuth.tokenFor('explicit@example.com')
  t.equal((await app.inject({ url: '/api/tasks', headers: withToken(token) })).statusCode, 200)
})
