import fastifyJwt from '@fastify/jwt'
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { HttpProblem } from '../http/problem.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** An `onRequest` hook: answers 401 unless a valid bearer token is presented, and sets `request.userId`. */
    authenticate: (request: FastifyRequest) => Promise<void>
  }
  interface FastifyRequest {
    /** The caller: the verified token's `sub`. */
    userId: string
  }
}

/**
 * Shared-secret authentication: HS256 tokens signed with BETTER_AUTH_SECRET, read from the Authorization header
 * only (never from the query string or a cookie, which leak into logs and cross-site requests).
 */
const auth: FastifyPluginAsync = async (fastify) => {
  const { BETTER_AUTH_SECRET, JWT_ISSUER, JWT_AUDIENCE, JWT_CLOCK_TOLERANCE } = fastify.config
  if (BETTER_AUTH_SECRET === undefined) throw new Error('BETTER_AUTH_SECRET: required to verify tokens')
  const toleranceMs = JWT_CLOCK_TOLERANCE * 1000

  await fastify.register(fastifyJwt, {
    secret: BETTER_AUTH_SECRET,
    verify: {
      // Pinning the algorithm refuses `none` and every algorithm-confusion trick.
      algorithms: ['HS256'],
      // fast-jwt checks iss and aud only when present: configured ones must also be required.
      requiredClaims: ['exp', 'sub', ...(JWT_ISSUER !== undefined ? ['iss'] : []), ...(JWT_AUDIENCE !== undefined ? ['aud'] : [])],
      clockTolerance: toleranceMs,
      ...(JWT_ISSUER !== undefined && { allowedIss: JWT_ISSUER }),
      ...(JWT_AUDIENCE !== undefined && { allowedAud: JWT_AUDIENCE }),
    },
  })

  fastify.decorateRequest('userId', '')
  fastify.decorate('authenticate', async (request: FastifyRequest) => {
    const token = bearerToken(request.headers.authorization)
    if (token === '') {
      // RFC 6750 §3.1: no error code when the request carried no token at all.
      throw new HttpProblem(401, 'Authentication required: send Authorization: Bearer <token>.', {
        'www-authenticate': 'Bearer',
      })
    }
    let claims: Record<string, unknown>
    try {
      claims = fastify.jwt.verify<Record<string, unknown>>(token)
    } catch (error) {
      throw invalidToken((error as { code?: string }).code === 'FAST_JWT_EXPIRED' ? 'The token has expired.' : 'The token is not valid.')
    }
    if (typeof claims.sub !== 'string' || claims.sub === '') throw invalidToken('The token has no subject (sub).')
    // fast-jwt checks exp and nbf but not iat; a token issued in the future is forged or from a broken clock.
    if (claims.iat !== undefined && !(typeof claims.iat === 'number' && claims.iat * 1000 <= Date.now() + toleranceMs)) {
      throw invalidToken('The token is not valid yet.')
    }
    request.userId = claims.sub
  })
}

/**
 * The credentials after `Bearer`: '' when no bearer token was presented (no header, another scheme, nothing
 * after the scheme), else everything after it, which verification then judges (`a.b.c extra` is invalid).
 */
function bearerToken(header: string | undefined): string {
  const match = /^Bearer(?: +(.*))?$/i.exec(header?.trim() ?? '')
  return match?.[1] ?? ''
}

function invalidToken(detail: string): HttpProblem {
  return new HttpProblem(401, detail, { 'www-authenticate': 'Bearer error="invalid_token"' })
}

export default fp(auth, { name: 'auth', dependencies: ['env', 'problems'] })
