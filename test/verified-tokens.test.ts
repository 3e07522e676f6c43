import t from 'tap'
import { VerifiedTokens } from '../src/auth/verified-tokens.js'
import { bearer, buildApp, tokenFor } from './support/app.js'

t.test('an entry answers for exactly its token, until its exp', async (t) => {
  const cache = new VerifiedTokens(10)
  cache.set('header.payload.signature', 'ann', 2_000)
  t.equal(cache.get('header.payload.signature', 1_999), 'ann')
  t.equal(cache.get('header.payload.signaturf', 1_000), undefined, 'one character off: another key')
  t.equal(cache.get('header.payload.signature', 2_000), undefined, 'not at exp')
  t.equal(cache.size, 0, 'an expired entry is dropped when met')
})

t.test('bounded: the oldest entry goes first', async (t) => {
  const cache = new VerifiedTokens(3)
  for (const token of ['a', 'b', 'c']) cache.set(token, `user-${token}`, 10_000)
  cache.set('a', 'user-a', 10_000) // refreshed: now the newest
  cache.set('d', 'user-d', 10_000)
  t.equal(cache.size, 3)
  t.equal(cache.get('b', 0), undefined, 'b was the oldest')
  t.same(['a', 'c', 'd'].map((token) => cache.get(token, 0)), ['user-a', 'user-c', 'user-d'])
})

t.test('through the API: a forged copy of a verified token is refused; an expired one is never served from the cache', async (t) => {
  const app = await buildApp(t, { JWT_CLOCK_TOLERANCE: '0' })
  const token = tokenFor('ann', {}, { expiresIn: 1_500 })
  const call = (authorization: string) => app.inject({ url: '/api/tasks', headers: { authorization } })
  t.equal((await call(`Bearer ${token}`)).statusCode, 200, 'verified, and now cached')
  t.equal((await call(`Bearer ${token}`)).statusCode, 200, 'served again')

  const [header, payload, signature] = token.split('.') as [string, string, string]
  const otherSignature = `${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`
  t.equal((await call(`Bearer ${header}.${payload}.${otherSignature}`)).statusCode, 401, 'same claims, altered signature')
  const forgedPayload = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), sub: 'mallory' })).toString('base64url')
  t.equal((await call(`Bearer ${header}.${forgedPayload}.${signature}`)).statusCode, 401, 'altered claims, the signature kept')

  // The process clock (Date.now, which the code under test reads) past the token's exp, until the test ends.
  const realNow = Date.now
  t.capture(Date, 'now', () => realNow() + 2_100)
  const expired = await call(`Bearer ${token}`)
  t.equal(expired.statusCode, 401, 'past exp the cached entry is not used')
  t.match(expired.json(), { detail: 'The token has expired.' })
  t.equal((await app.inject({ url: '/api/tasks', headers: bearer('ann') })).statusCode, 200, 'a fresh token works')
})
