import type { FastifyBaseLogger } from 'fastify'
import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose'

/** No key could be fetched and none is cached: the caller's token cannot be judged, so this is a 503, not a 401. */
export class KeysUnavailableError extends Error {}

export interface RemoteKeysOptions {
  /** Each fetch gives up after this long. */
  timeoutMs: number
  /** Fetches start at most this often, counted from the start of the last one, whatever its outcome. */
  cooldownMs: number
  /** The clock the cooldown is measured with. */
  nowMs: () => number
  log: FastifyBaseLogger
}

/**
 * The keys an auth server publishes as a JWKS, for jose's `jwtVerify`: fetched on first use, and again when a
 * token names an unknown `kid`, but never twice within the cooldown, counted from the last attempt, failed or
 * not. So neither invented `kid`s nor an unreachable JWKS can make every request fetch. (jose's own
 * createRemoteJWKSet starts its cooldown only after a success: with the JWKS down from the start, every request
 * fetched.) Keys stay cached while the JWKS is unreachable, so an outage of the auth server logs no one out.
 */
export function remoteKeys (url: URL, { timeoutMs, cooldownMs, nowMs, log }: RemoteKeysOptions): JWTVerifyGetKey {
  let cached: JWTVerifyGetKey | undefined
  let lastAttemptMs = -Infinity
  let lastFailure: unknown
  let pending: Promise<void> | undefined

  async function fetchKeys (): Promise<void> {
    try {
      // No redirects: the keys come from the configured URL or not at all.
      const response = await fetch(url, {
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
        headers: { accept: 'application/json' },
      })
      if (response.status !== 200) throw new Error(`the JWKS answered ${response.status}`)
      // createLocalJWKSet checks the shape and throws on anything but a key set.
      cached = createLocalJWKSet((await response.json()) as JSONWebKeySet)
    } catch (error) {
      lastFailure = error
      log.warn({ err: error }, 'JWKS fetch failed')
    }
  }

  /** The keys after a fetch, unless the cooldown runs; callers arriving during a fetch wait for that one. */
  async function refresh (): Promise<JWTVerifyGetKey | undefined> {
    if (pending === undefined && nowMs() >= lastAttemptMs + cooldownMs) {
      lastAttemptMs = nowMs()
      pending = fetchKeys().finally(() => {
        pending = undefined
      })
    }
    await pending
    return cached
  }

  return async (header, token) => {
    if (cached !== undefined) {
      try {
        return await cached(header, token)
      } catch (error) {
        if (!(error instanceof errors.JWKSNoMatchingKey)) throw error
      }
    }
    const keys = await refresh()
    if (keys === undefined) throw new KeysUnavailableError('no JWKS fetched yet', { cause: lastFailure })
    return keys(header, token)
  }
}
