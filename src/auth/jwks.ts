import type { FastifyBaseLogger } from 'fastify'
import { jwtVerify, type JWTPayload } from 'jose'
import type { Config } from '../config.js'
import { joseRejection } from './rejection.js'
import { KeysUnavailableError, remoteKeys } from './remote-keys.js'

/** What Better Auth's `jwt()` plugin can sign with; HS256 is the shared-secret way, never a JWKS key's. */
export const JWKS_ALGORITHMS = ['EdDSA', 'ES256', 'ES512', 'RS256', 'PS256']

/** Each JWKS fetch gives up after this long. */
const FETCH_TIMEOUT_MS = 5000
/** An unknown `kid` re-fetches the JWKS at most this often, so invented kids cannot hammer the auth server. */
const REFETCH_COOLDOWN_MS = 30_000

export interface JwksSettings {
  url: URL
  issuer: string
  audience: string
}

/**
 * JWKS mode, when configured: keys at JWKS_URL or `<origin of BETTER_AUTH_URL>/api/auth/jwks`; `iss` and `aud`
 * must be JWT_ISSUER / JWT_AUDIENCE, defaulting to the origin of BETTER_AUTH_URL as Better Auth sets them.
 * src/config.ts has checked that the URLs parse and that an issuer and audience can be derived.
 */
export function jwksSettings (config: Config): JwksSettings | undefined {
  if (config.BETTER_AUTH_URL === undefined && config.JWKS_URL === undefined) return undefined
  const origin = config.BETTER_AUTH_URL === undefined ? undefined : new URL(config.BETTER_AUTH_URL).origin
  return {
    url: new URL(config.JWKS_URL ?? `${origin}/api/auth/jwks`),
    issuer: (config.JWT_ISSUER ?? origin) as string,
    audience: (config.JWT_AUDIENCE ?? origin) as string,
  }
}

/**
 * A verifier for tokens signed with the auth server's published keys. jose looks keys up by `kid` and converts
 * every key type (Ed25519 included); src/auth/remote-keys.ts fetches and caches them. `nowMs` is the clock of the
 * re-fetch cooldown.
 */
export function jwksVerifier (settings: JwksSettings, clockToleranceSeconds: number, nowMs: () => number, log: FastifyBaseLogger) {
  const key = remoteKeys(settings.url, { timeoutMs: FETCH_TIMEOUT_MS, cooldownMs: REFETCH_COOLDOWN_MS, nowMs, log })
  /** The token's claims, verified; else throws why it is refused, or KeysUnavailableError. */
  return async (token: string): Promise<JWTPayload> => {
    try {
      const { payload } = await jwtVerify(token, key, {
        algorithms: JWKS_ALGORITHMS,
        issuer: settings.issuer,
        audience: settings.audience,
        clockTolerance: clockToleranceSeconds,
        requiredClaims: ['exp', 'sub'],
      })
      return payload
    } catch (error) {
      if (error instanceof KeysUnavailableError) throw error
      throw joseRejection(error, settings)
    }
  }
}
