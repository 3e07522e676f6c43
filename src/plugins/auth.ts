import fastifyJwt from '@fastify/jwt'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, HookHandlerDoneFunction, onRequestHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { decodeProtectedHeader } from 'jose'
import { JWKS_ALGORITHMS, jwksSettings, jwksVerifier } from '../auth/jwks.js'
import { KeysUnavailableError } from '../auth/remote-keys.js'
import { fastJwtRejection, malformed, noSubject, notYetValid, numericDateExpected, TokenRejection } from '../auth/rejection.js'
import { VerifiedTokens } from '../auth/verified-tokens.js'
import { HttpProblem } from '../http/problem.js'
import { PATTERN_MESSAGES, STORABLE_TEXT_PATTERN } from '../schemas/patterns.js'
import { MAX_USER_ID_LENGTH } from '../schemas/task.js'

/** Where a request keeps the outcome of checking its token, once checked. */
const TOKEN_CHECK = Symbol('token check')

declare module 'fastify' {
  interface FastifyInstance {
    /** The verified token's `sub`, or undefined when no valid token was presented. Never throws. */
    identify: (request: FastifyRequest) => Promise<string | undefined>
    /** An `onRequest` hook: answers 401 unless a valid bearer token is presented, and sets `request.userId`. */
    authenticate: onRequestHookHandler
  }
  interface FastifyRequest {
    /** The caller: the verified token's `sub`. */
    userId: string
    [TOKEN_CHECK]: Outcome | Promise<Outcome> | undefined
  }
}

type Claims = Record<string, unknown>
/** A verified caller's id, or the problem to answer an unverified request with. */
type Outcome = string | HttpProblem

/** A `sub` is the owner's id as stored: PostgreSQL would refuse U+0000 and turn an unpaired surrogate into U+FFFD. */
const STORABLE_TEXT = new RegExp(STORABLE_TEXT_PATTERN, 'u')

/** Enough for every active user of one instance; about 100 bytes each. */
const VERIFIED_TOKENS_KEPT = 10_000

/**
 * Bearer tokens, read from the Authorization header only (never from the query string or a cookie, which leak
 * into logs and cross-site requests), trusted two ways: HS256 signed with BETTER_AUTH_SECRET, and the asymmetric
 * keys a Better Auth server publishes (its `jwt()` plugin). When both are configured the token's `alg` picks
 * the way, and each way has its own allow-list, so neither `none` nor an HMAC signed with a public key passes.
 */
const auth: FastifyPluginAsync = async (fastify) => {
  const { BETTER_AUTH_SECRET, JWT_ISSUER, JWT_AUDIENCE, JWT_CLOCK_TOLERANCE } = fastify.config
  const toleranceMs = JWT_CLOCK_TOLERANCE * 1000
  const jwks = jwksSettings(fastify.config)
  if (BETTER_AUTH_SECRET === undefined && jwks === undefined) {
    throw new Error('BETTER_AUTH_SECRET, BETTER_AUTH_URL or JWKS_URL: one is needed to verify tokens')
  }

  if (BETTER_AUTH_SECRET !== undefined) {
    await fastify.register(fastifyJwt, {
      secret: BETTER_AUTH_SECRET,
      verify: {
        algorithms: ['HS256'],
        // fast-jwt checks iss and aud only when present: configured ones must also be required.
        requiredClaims: ['exp', 'sub', ...(JWT_ISSUER !== undefined ? ['iss'] : []), ...(JWT_AUDIENCE !== undefined ? ['aud'] : [])],
        clockTolerance: toleranceMs,
        ...(JWT_ISSUER !== undefined && { allowedIss: JWT_ISSUER }),
        ...(JWT_AUDIENCE !== undefined && { allowedAud: JWT_AUDIENCE }),
      },
    })
  }
  const nowMs = () => fastify.now().getTime()
  const verifyWithJwks = jwks === undefined ? undefined : jwksVerifier(jwks, JWT_CLOCK_TOLERANCE, nowMs, fastify.log)
  const accepted = [...(BETTER_AUTH_SECRET !== undefined ? ['HS256'] : []), ...(verifyWithJwks !== undefined ? JWKS_ALGORITHMS : [])]
  const algorithmRefused = new TokenRejection(
    'algorithm',
    `The token's algorithm (alg) is not one this API accepts: ${accepted.join(', ')}.`
  )

  /** The token's claims once its signature and standard claims check out; else throws why it is refused. */
  async function verify (token: string): Promise<Claims> {
    const alg = algorithmOf(token)
    if (alg === 'HS256' && BETTER_AUTH_SECRET !== undefined) {
      try {
        return fastify.jwt.verify<Claims>(token)
      } catch (error) {
        throw fastJwtRejection(error, { issuer: JWT_ISSUER, audience: JWT_AUDIENCE })
      }
    }
    if (verifyWithJwks !== undefined && JWKS_ALGORITHMS.includes(alg as string)) return verifyWithJwks(token)
    throw algorithmRefused
  }

  /** The caller's id: the `sub`, once the checks neither library makes pass; else throws why it is refused. */
  function callerOf (claims: Claims): string {
    const { sub, iat } = claims
    // Both libraries require a sub to be present, whatever its type.
    if (sub === '') throw noSubject()
    if (typeof sub !== 'string') throw new TokenRejection('subject', "The token's subject (sub) is not a string.")
    if (sub.length > MAX_USER_ID_LENGTH) {
      throw new TokenRejection('subject', `The token's subject (sub) is longer than ${MAX_USER_ID_LENGTH} characters.`)
    }
    if (!STORABLE_TEXT.test(sub)) {
      throw new TokenRejection(
        'subject',
        `The token's subject (sub) ${PATTERN_MESSAGES[STORABLE_TEXT_PATTERN]}: it could not be stored as sent.`
      )
    }
    // Neither library rejects an iat in the future; such a token is forged or from a broken clock.
    if (iat !== undefined && typeof iat !== 'number') throw numericDateExpected('iat')
    if (iat !== undefined && iat * 1000 > Date.now() + toleranceMs) throw notYetValid('iat')
    return sub
  }

  const verifiedTokens = new VerifiedTokens(VERIFIED_TOKENS_KEPT)

  /**
   * The caller's id, or the problem to answer with; never throws. Synchronous for a token verified before, the
   * usual case, so that a request then needs no promise for its authentication.
   */
  function verifyRequest (request: FastifyRequest): Outcome | Promise<Outcome> {
    const token = bearerToken(request.headers.authorization)
    if (token === '') {
      // RFC 6750 §3.1: no error code when the request carried no token at all.
      return new HttpProblem(401, 'Authentication required: send Authorization: Bearer <token>.', { 'www-authenticate': 'Bearer' })
    }
    return verifiedTokens.get(token, Date.now()) ?? verifyToken(request, token)
  }

  async function verifyToken (request: FastifyRequest, token: string): Promise<Outcome> {
    try {
      const claims = await verify(token)
      const userId = callerOf(claims)
      // Both verifiers require exp, so every verified token has one.
      verifiedTokens.set(token, userId, (claims.exp as number) * 1000)
      return userId
    } catch (error) {
      // Each failed fetch is logged where it happens, at most once per cooldown.
      if (error instanceof KeysUnavailableError) {
        return new HttpProblem(503, 'The keys to check the token with cannot be fetched right now; try again shortly.', {
          'retry-after': '5',
        })
      }
      // Each library's errors are translated where it is called; anything else is refused without a reason.
      const { reason, detail } = error instanceof TokenRejection ? error : new TokenRejection('invalid', 'The token is not valid.')
      request.log.info({ reason, detail }, 'token refused')
      return new HttpProblem(401, detail, { 'www-authenticate': 'Bearer error="invalid_token"' })
    }
  }

  // The rate limiter identifies the caller before authentication answers: one verification serves both. The
  // outcome is a request property, not a WeakMap entry, which costs the garbage collector more.
  function verifyOnce (request: FastifyRequest): Outcome | Promise<Outcome> {
    return (request[TOKEN_CHECK] ??= verifyRequest(request))
  }

  function admit (request: FastifyRequest, outcome: Outcome, done: HookHandlerDoneFunction): void {
    if (outcome instanceof HttpProblem) return done(outcome)
    request.userId = outcome
    done()
  }

  fastify.decorateRequest('userId', '')
  fastify.decorateRequest(TOKEN_CHECK, undefined)
  fastify.decorate('identify', async (request: FastifyRequest) => {
    const outcome = await verifyOnce(request)
    return typeof outcome === 'string' ? outcome : undefined
  })
  fastify.decorate('authenticate', (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const outcome = verifyOnce(request)
    if (outcome instanceof Promise) void outcome.then((settled) => admit(request, settled, done))
    else admit(request, outcome, done)
  })
}

/**
 * The credentials after `Bearer`: '' when no bearer token was presented (no header, another scheme, nothing
 * after the scheme), else everything after it, which verification then judges (`a.b.c extra` is invalid).
 */
function bearerToken (header: string | undefined): string {
  const match = /^Bearer(?: +(.*))?$/i.exec(header?.trim() ?? '')
  return match?.[1] ?? ''
}

/** The token's `alg`, read from its header before anything is verified; throws when there is no JWT header. */
function algorithmOf (token: string): unknown {
  try {
    return decodeProtectedHeader(token).alg
  } catch {
    throw malformed()
  }
}

export default fp(auth, { name: 'auth', dependencies: ['env', 'clock', 'problems'] })
