import { createHmac } from 'node:crypto'
import t, { type Test } from 'tap'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import { createSigner } from 'fast-jwt'
import { jwksSettings } from '../src/auth/jwks.js'
import { mintToken } from '../src/auth/token.js'
import { bearer, buildApp, json, TEST_SECRET, testConfig, tokenFor } from './support/app.js'
import { assertRefusalLogged, buildLoggedApp, type LoggedApp, type Refusal } from './support/logged-app.js'

/**
 * Authentication in shared-secret mode (contract §2 and §8): which tokens are accepted, how every refusal
 * looks (401 problem, `WWW-Authenticate` per RFC 6750), and that authentication runs after routing and
 * before the body is parsed or validated.
 */

const USER = 'alice'
const OTHER_SECRET = 'another-secret-that-is-also-32-characters-or-more'
const SOME_TASK_ID = '01900000-0000-7000-8000-000000000000'
const CHALLENGE = 'Bearer'
const INVALID_TOKEN_CHALLENGE = 'Bearer error="invalid_token"'

/** Seconds since the epoch, the unit of `exp`, `nbf` and `iat`. */
const now = () => Math.floor(Date.now() / 1000)

const base64url = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')

/** A JWT built by hand, for shapes fast-jwt's signer refuses to produce; HMAC-SHA256 with the test secret. */
function handMade (payload: object, header: object = { alg: 'HS256', typ: 'JWT' }): string {
  const input = `${base64url(header)}.${base64url(payload)}`
  return `${input}.${createHmac('sha256', TEST_SECRET).update(input).digest('base64url')}`
}

/** A token for USER with exactly these time claims (no automatic `exp`; `iat` is now unless given). */
const timed = (claims: Record<string, number>) => tokenFor(USER, claims, { expiresIn: undefined })

/** The same token with its payload re-encoded for another `sub`; header and signature kept. */
function withSub (token: string, sub: string): string {
  const [header, payload, signature] = token.split('.') as [string, string, string]
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>
  return `${header}.${base64url({ ...claims, sub })}.${signature}`
}

/** Real endpoints of both path styles, reads and writes; each must refuse an unauthenticated caller alike. */
const ENDPOINTS: InjectOptions[] = [
  { method: 'GET', url: '/api/tasks' },
  { method: 'POST', url: '/api/tasks', payload: { title: 'must never be written' } },
  { method: 'GET', url: `/api/${USER}/tasks` },
  { method: 'POST', url: `/api/${USER}/tasks`, payload: { title: 'must never be written' } },
  { method: 'PUT', url: `/api/tasks/${SOME_TASK_ID}`, payload: { title: 'must never be written' } },
  { method: 'PATCH', url: `/api/${USER}/tasks/${SOME_TASK_ID}/complete` },
  { method: 'DELETE', url: `/api/tasks/${SOME_TASK_ID}` },
]

const describe = (request: InjectOptions) => `${request.method} ${request.url}`

/** A 401 problem document with the given challenge, and no trace of the presented token or of the secret. */
function assertUnauthorized (t: Test, response: LightMyRequestResponse, challenge: string, token?: string): void {
  t.equal(response.statusCode, 401, 'status 401')
  t.match(response.headers['content-type'], /^application\/problem\+json/, 'problem+json')
  t.equal(response.headers['www-authenticate'], challenge, 'WWW-Authenticate')
  const problem = json(response)
  t.same(Object.keys(problem).sort(), ['detail', 'request_id', 'status', 'title', 'type'], 'problem fields')
  t.match(problem, { type: 'about:blank', title: 'Unauthorized', status: 401, detail: String })
  t.equal(problem.request_id, response.headers['x-request-id'], 'request_id is the X-Request-Id')
  t.notOk(response.body.includes(TEST_SECRET), 'the secret is not echoed')
  if (token !== undefined) {
    t.notOk(response.body.includes(token), 'the token is not echoed')
    const signature = token.split('.')[2]
    if (signature) t.notOk(response.body.includes(signature), 'the signature is not echoed')
  }
}

/** A request without `authorization` but with `extra` headers, or a token only in the query string. */
interface NoTokenCase {
  name: string
  headers?: Record<string, string>
  query?: string
  /** What the request smuggles, to check it is not echoed. */
  token?: string
}

const valid = tokenFor(USER)
const NO_TOKEN: NoTokenCase[] = [
  { name: 'no Authorization header' },
  { name: 'another scheme (Basic)', headers: { authorization: 'Basic YWxpY2U6cGFzc3dvcmQ=' } },
  { name: 'another scheme carrying a JWT', headers: { authorization: `Token ${valid}` }, token: valid },
  { name: '"Bearer" with nothing after it', headers: { authorization: 'Bearer' } },
  { name: '"Bearer " with only a space after it', headers: { authorization: 'Bearer ' } },
  { name: 'a valid token in ?access_token=', query: `access_token=${valid}`, token: valid },
  { name: 'a valid token in ?token=', query: `token=${valid}`, token: valid },
  { name: 'a valid token in a cookie only', headers: { cookie: `token=${valid}; access_token=${valid}` }, token: valid },
]

const SIGNATURE: Refusal = { reason: 'signature', detail: "The token's signature does not verify." }
const EXPIRED: Refusal = { reason: 'expired', detail: 'The token has expired.' }
const NOT_BEFORE: Refusal = { reason: 'not_yet_valid', detail: 'The token is not valid yet: its nbf (not before) is in the future.' }
const ISSUED_LATER: Refusal = { reason: 'not_yet_valid', detail: 'The token is not valid yet: its iat (issued at) is in the future.' }
const NO_SUBJECT: Refusal = { reason: 'no_subject', detail: 'The token has no subject (sub).' }
const NO_EXPIRY: Refusal = { reason: 'no_expiry', detail: 'The token has no expiry (exp).' }
const ALGORITHM: Refusal = { reason: 'algorithm', detail: "The token's algorithm (alg) is not one this API accepts: HS256." }
const MALFORMED: Refusal = { reason: 'malformed', detail: 'The token is not a well-formed JWT.' }
const notNumeric = (claim: string): Refusal => ({ reason: 'claim', detail: `The token's ${claim} claim is not a number of seconds since the epoch.` })

/** Tokens presented in `Authorization: Bearer …` that must be refused with error="invalid_token", and why. */
const INVALID_TOKENS: ({ name: string; token: () => string } & Refusal)[] = [
  { name: 'signed with another secret', token: () => tokenFor(USER, {}, { key: OTHER_SECRET }), ...SIGNATURE },
  { name: 'tampered payload (sub changed, signature kept)', token: () => withSub(tokenFor('mallory'), USER), ...SIGNATURE },
  { name: 'no signature', token: () => `${tokenFor(USER).split('.').slice(0, 2).join('.')}.`, ...SIGNATURE },
  { name: 'expired beyond the 30 s tolerance', token: () => timed({ iat: now() - 600, exp: now() - 60 }), ...EXPIRED },
  { name: 'nbf in the future beyond tolerance', token: () => timed({ nbf: now() + 60, exp: now() + 600 }), ...NOT_BEFORE },
  { name: 'iat in the future beyond tolerance', token: () => timed({ iat: now() + 60, exp: now() + 600 }), ...ISSUED_LATER },
  { name: 'no sub', token: () => tokenFor(undefined), ...NO_SUBJECT },
  { name: 'empty sub', token: () => tokenFor(''), ...NO_SUBJECT },
  { name: 'non-string sub (a number)', token: () => tokenFor(undefined, { sub: 42 }), reason: 'subject', detail: "The token's subject (sub) is not a string." },
  {
    name: 'sub longer than 255 characters',
    token: () => tokenFor('u'.repeat(256)),
    reason: 'subject',
    detail: "The token's subject (sub) is longer than 255 characters.",
  },
  { name: 'no exp', token: () => tokenFor(USER, {}, { expiresIn: undefined }), ...NO_EXPIRY },
  { name: 'exp not a number', token: () => handMade({ sub: USER, iat: now(), exp: String(now() + 600) }), ...notNumeric('exp') },
  { name: 'nbf not a number', token: () => handMade({ sub: USER, nbf: 'now', exp: now() + 600 }), ...notNumeric('nbf') },
  { name: 'iat not a number', token: () => handMade({ sub: USER, iat: 'yesterday', exp: now() + 600 }), ...notNumeric('iat') },
  { name: 'alg none, no signature', token: () => createSigner({ algorithm: 'none', expiresIn: 60_000 })({ sub: USER }), ...ALGORITHM },
  { name: 'alg none header over a valid HS256 signature', token: () => handMade({ sub: USER, exp: now() + 600 }, { alg: 'none', typ: 'JWT' }), ...ALGORITHM },
  { name: 'no alg in the header', token: () => handMade({ sub: USER, exp: now() + 600 }, { typ: 'JWT' }), ...ALGORITHM },
  { name: 'HS512 with the right secret', token: () => tokenFor(USER, {}, { algorithm: 'HS512' }), ...ALGORITHM },
  { name: 'HS384 with the right secret', token: () => tokenFor(USER, {}, { algorithm: 'HS384' }), ...ALGORITHM },
  { name: 'a garbage string', token: () => 'not-a-jwt', ...MALFORMED },
  { name: 'three garbage segments', token: () => 'abc.def.ghi', ...MALFORMED },
  { name: 'claims that are not JSON', token: () => `${base64url({ alg: 'HS256' })}.bm90IGpzb24.c2ln`, ...MALFORMED },
  { name: 'claims that are JSON but not an object', token: () => `${base64url({ alg: 'HS256' })}.${Buffer.from('42').toString('base64url')}.c2ln`, ...MALFORMED },
  {
    name: 'a critical header extension this API does not know',
    token: () => handMade({ sub: USER, exp: now() + 600 }, { alg: 'HS256', crit: ['x-unknown'], 'x-unknown': true }),
    reason: 'invalid',
    detail: 'The token is not valid.',
  },
  // The last part is then `<signature> extra`, which is not the signature.
  { name: 'a valid token followed by more text', token: () => `${tokenFor(USER)} extra`, ...SIGNATURE },
]

/** A refusal of `token` through the API: a 401 that says why, logged at info. */
async function assertRefusedBecause (t: Test, logged: LoggedApp, token: string, refusal: Refusal): Promise<void> {
  const response = await logged.app.inject({ url: '/api/tasks', headers: { authorization: `Bearer ${token}` } })
  assertUnauthorized(t, response, INVALID_TOKEN_CHALLENGE, token)
  assertRefusalLogged(t, logged, response, token, refusal)
}

t.test('refusals', async (t) => {
  const logged = await buildLoggedApp(t)
  const { app } = logged

  t.test('no token presented: 401 with a bare "Bearer" challenge', async (t) => {
    for (const request of ENDPOINTS) {
      for (const c of NO_TOKEN) {
        t.test(`${describe(request)}: ${c.name}`, async (t) => {
          const url = c.query === undefined ? request.url : `${request.url}${String(request.url).includes('?') ? '&' : '?'}${c.query}`
          const response = await app.inject({ ...request, url, headers: c.headers ?? {} })
          assertUnauthorized(t, response, CHALLENGE, c.token)
        })
      }
    }
  })

  t.test('a token presented but not valid: 401 with error="invalid_token"', async (t) => {
    for (const request of ENDPOINTS) {
      for (const c of INVALID_TOKENS) {
        t.test(`${describe(request)}: ${c.name}`, async (t) => {
          const token = c.token()
          const response = await app.inject({ ...request, headers: { authorization: `Bearer ${token}` } })
          assertUnauthorized(t, response, INVALID_TOKEN_CHALLENGE, token)
        })
      }
    }
  })

  t.test('each refusal says why in its detail and logs the reason at info, never the token', async (t) => {
    for (const c of INVALID_TOKENS) {
      t.test(c.name, async (t) => assertRefusedBecause(t, logged, c.token(), c))
    }
  })

  t.test('none of the refused writes reached the database', async (t) => {
    for (const user of [USER, 'mallory']) {
      const list = await app.inject({ url: '/api/tasks', headers: bearer(user) })
      t.equal(list.statusCode, 200)
      t.same(json(list), [], `${user} owns no task`)
    }
  })
})

t.test('accepted tokens', async (t) => {
  const app = await buildApp(t)

  t.test("a valid token's sub owns what it creates, in both path styles", async (t) => {
    const sub = 'auth0|5f7c8ec7c33c6c004bbafe82'
    const auth = bearer(sub)
    const viaToken = await app.inject({ method: 'POST', url: '/api/tasks', headers: auth, payload: { title: 'mine' } })
    t.equal(viaToken.statusCode, 201)
    t.equal(json(viaToken).user_id, sub)
    const viaPath = await app.inject({ method: 'POST', url: `/api/${encodeURIComponent(sub)}/tasks`, headers: auth, payload: { title: 'also mine' } })
    t.equal(viaPath.statusCode, 201)
    t.equal(json(viaPath).user_id, sub)
    const list = await app.inject({ url: '/api/tasks', headers: auth })
    t.same(json<{ title: string }[]>(list).map((task) => task.title).sort(), ['also mine', 'mine'])
    const someoneElse = await app.inject({ url: '/api/tasks', headers: bearer('bob') })
    t.same(json(someoneElse), [], 'another sub sees none of them')
  })

  t.test('the scheme name is case-insensitive (RFC 7235)', async (t) => {
    const response = await app.inject({ url: '/api/tasks', headers: { authorization: `bearer ${tokenFor(USER)}` } })
    t.equal(response.statusCode, 200)
  })

  t.test('without JWT_ISSUER/JWT_AUDIENCE configured, any iss and aud are accepted', async (t) => {
    for (const claims of [{ iss: 'https://anyone.example.org' }, { aud: 'some-other-api' }, { iss: 'x', aud: ['y', 'z'] }]) {
      const response = await app.inject({ url: '/api/tasks', headers: { authorization: `Bearer ${tokenFor(USER, claims)}` } })
      t.equal(response.statusCode, 200, JSON.stringify(claims))
    }
  })
})

t.test('clock tolerance', async (t) => {
  const defaultApp = await buildApp(t)
  const strictApp = await buildApp(t, { JWT_CLOCK_TOLERANCE: '0' })
  const skews = [
    { name: 'exp 10 s ago', claims: () => ({ iat: now() - 600, exp: now() - 10 }) },
    { name: 'nbf 10 s ahead', claims: () => ({ nbf: now() + 10, exp: now() + 600 }) },
    { name: 'iat 10 s ahead', claims: () => ({ iat: now() + 10, exp: now() + 600 }) },
  ]
  for (const skew of skews) {
    t.test(skew.name, async (t) => {
      const token = timed(skew.claims())
      const headers = { authorization: `Bearer ${token}` }
      const tolerated = await defaultApp.inject({ url: '/api/tasks', headers })
      t.equal(tolerated.statusCode, 200, 'accepted within the default 30 s')
      assertUnauthorized(t, await strictApp.inject({ url: '/api/tasks', headers }), INVALID_TOKEN_CHALLENGE, token)
    })
  }
})

t.test('issuer and audience, when configured', async (t) => {
  const ISSUER = 'https://auth.example.com'
  const AUDIENCE = 'tasks-api'
  const logged = await buildLoggedApp(t, { JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE })
  const wrongIssuer = { reason: 'issuer', detail: `The token's issuer (iss) is not "${ISSUER}", the one this API expects.` }
  const noIssuer = { reason: 'issuer', detail: `The token has no issuer (iss); this API expects "${ISSUER}".` }
  const wrongAudience = { reason: 'audience', detail: `The token's audience (aud) does not include "${AUDIENCE}", the one this API expects.` }
  const noAudience = { reason: 'audience', detail: `The token has no audience (aud); this API expects "${AUDIENCE}".` }
  const cases: { name: string; claims: Record<string, unknown>; refusal?: Refusal }[] = [
    { name: 'matching iss and aud', claims: { iss: ISSUER, aud: AUDIENCE } },
    { name: 'aud as an array holding the audience', claims: { iss: ISSUER, aud: ['other-api', AUDIENCE] } },
    { name: 'wrong iss', claims: { iss: 'https://evil.example.com', aud: AUDIENCE }, refusal: wrongIssuer },
    { name: 'iss with a suffix', claims: { iss: `${ISSUER}.evil.example`, aud: AUDIENCE }, refusal: wrongIssuer },
    { name: 'iss not a string', claims: { iss: 42, aud: AUDIENCE }, refusal: wrongIssuer },
    { name: 'wrong aud', claims: { iss: ISSUER, aud: 'another-api' }, refusal: wrongAudience },
    { name: 'aud as an array without the audience', claims: { iss: ISSUER, aud: ['a', 'b'] }, refusal: wrongAudience },
    { name: 'neither iss nor aud', claims: {}, refusal: noIssuer },
    { name: 'no iss', claims: { aud: AUDIENCE }, refusal: noIssuer },
    { name: 'no aud', claims: { iss: ISSUER }, refusal: noAudience },
  ]
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const token = tokenFor(USER, c.claims)
      if (c.refusal !== undefined) return assertRefusedBecause(t, logged, token, c.refusal)
      const response = await logged.app.inject({ url: '/api/tasks', headers: { authorization: `Bearer ${token}` } })
      t.equal(response.statusCode, 200)
    })
  }
})

t.test('order of checks: route, then authentication, then the body', async (t) => {
  const app = await buildApp(t)
  const invalid = tokenFor(USER, {}, { key: OTHER_SECRET })
  const post = (headers: Record<string, string>, payload: string) =>
    app.inject({ method: 'POST', url: '/api/tasks', headers: { 'content-type': 'application/json', ...headers }, payload })

  t.test('an unauthenticated body is neither parsed nor validated', async (t) => {
    const bodies = [
      { name: 'unparsable JSON', payload: '{"title": ' },
      { name: 'a schema-breaking body', payload: '{"title": 42, "owner": "me"}' },
    ]
    for (const body of bodies) {
      assertUnauthorized(t, await post({}, body.payload), CHALLENGE)
      assertUnauthorized(t, await post({ authorization: `Bearer ${invalid}` }, body.payload), INVALID_TOKEN_CHALLENGE, invalid)
    }
    const text = await app.inject({ method: 'POST', url: '/api/tasks', headers: { 'content-type': 'text/plain' }, payload: 'title=x' })
    assertUnauthorized(t, text, CHALLENGE)
  })

  t.test('with a valid token the same bodies reach parsing (400) and validation (422)', async (t) => {
    const auth = bearer(USER)
    t.equal((await post(auth, '{"title": ')).statusCode, 400)
    t.equal((await post(auth, '{"title": 42, "owner": "me"}')).statusCode, 422)
  })

  t.test('malformed query and path parameters: 401 first', async (t) => {
    for (const url of ['/api/tasks?limit=0', '/api/tasks?unknown=1', '/api/tasks/not-a-uuid', `/api/${USER}/tasks/not-a-uuid`]) {
      assertUnauthorized(t, await app.inject({ url }), CHALLENGE)
    }
  })

  t.test('the owner in the path is checked after authentication', async (t) => {
    assertUnauthorized(t, await app.inject({ url: '/api/bob/tasks' }), CHALLENGE)
    t.equal((await app.inject({ url: '/api/bob/tasks', headers: bearer(USER) })).statusCode, 403)
  })

  t.test('an unknown route under /api is 404 without a token', async (t) => {
    for (const request of [
      { method: 'GET' as const, url: '/api/nope' },
      { method: 'GET' as const, url: `/api/tasks/${SOME_TASK_ID}/nope` },
      { method: 'POST' as const, url: '/api/nope', payload: { title: 'x' } },
    ]) {
      const response = await app.inject(request)
      t.equal(response.statusCode, 404, describe(request))
      t.match(response.headers['content-type'], /^application\/problem\+json/)
      t.match(json(response), { status: 404, title: 'Not Found' })
      t.notOk(response.headers['www-authenticate'], 'no challenge on a 404')
    }
  })
})

t.test('tokens from `npm run token` (mintToken) carry the configured issuer and audience', async (t) => {
  const env = { JWT_ISSUER: 'https://auth.example.com', JWT_AUDIENCE: 'tasks-api' }
  const app = await buildApp(t, env)
  const token = mintToken({ ...env, BETTER_AUTH_SECRET: TEST_SECRET }, 'minted-user', 60)
  const response = await app.inject({ method: 'POST', url: '/api/tasks', headers: { authorization: `Bearer ${token}` }, payload: { title: 'x' } })
  t.equal(response.statusCode, 201)
  t.equal(json(response).user_id, 'minted-user')
})

t.test('the app refuses to start with no way to verify tokens', async (t) => {
  await t.rejects(buildApp(t, { BETTER_AUTH_SECRET: undefined }), { message: /BETTER_AUTH_SECRET/ })
})

t.test('jwksSettings: where the keys are and which iss/aud to expect', async (t) => {
  t.equal(jwksSettings(testConfig()), undefined, 'no JWKS mode without BETTER_AUTH_URL or JWKS_URL')
  t.same(jwksSettings(testConfig({ BETTER_AUTH_URL: 'https://auth.example.com/some/base' })), {
    url: new URL('https://auth.example.com/api/auth/jwks'),
    issuer: 'https://auth.example.com',
    audience: 'https://auth.example.com',
  })
  t.same(
    jwksSettings(testConfig({ BETTER_AUTH_URL: 'https://auth.example.com', JWKS_URL: 'https://cdn.example.com/keys.json', JWT_ISSUER: 'i', JWT_AUDIENCE: 'a' })),
    { url: new URL('https://cdn.example.com/keys.json'), issuer: 'i', audience: 'a' }
  )
})

t.test('a sub of 255 characters is a user id like any other', async (t) => {
  const app = await buildApp(t)
  const sub = 'u'.repeat(255)
  const created = await app.inject({ method: 'POST', url: '/api/tasks', headers: bearer(sub), payload: { title: 'long id' } })
  t.equal(created.statusCode, 201)
  t.equal(json<{ user_id: string }>(created).user_id, sub)
})
