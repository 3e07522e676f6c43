import { HttpProblem, invalidRequest } from '../../http/problem.js'
import type { FeedPosition, FeedToken } from '../../repositories/tasks.js'
import { objectOf, UUID, type OpaqueTokens } from '../../http/opaque-token.js'

/** A transaction id as the feed stores it: a non-negative bigint. */
const MAX_BIGINT = 2n ** 63n - 1n
const isXid = (value: unknown): value is string => typeof value === 'string' && /^\d{1,19}$/.test(value) && BigInt(value) <= MAX_BIGINT

/** A position as a token holds it: `[xid, id]`. */
const positionText = (position: FeedPosition) => [String(position.xid), position.id]
const isPositionText = (value: unknown): value is [string, string] =>
  Array.isArray(value) && value.length === 2 && isXid(value[0]) && typeof value[1] === 'string' && UUID.test(value[1])
const positionOf = ([xid, id]: [string, string]): FeedPosition => ({ xid: BigInt(xid), id })

/** Sync tokens: sealed, and bound to their user (see OpaqueTokens). */
export class SyncTokens {
  constructor (private readonly tokens: OpaqueTokens) {}

  encode (userId: string, token: FeedToken): string {
    const { safe, pass, floor } = token
    return this.tokens.seal(contextOf(userId), {
      s: positionText(safe),
      f: String(floor),
      ...(pass && { p: [...positionText(pass.scan), String(pass.horizon)] }),
    })
  }

  /** The token a client sent as `since`: 422 when it is not one of the caller's; 410 for one from before sealing. */
  decode (userId: string, text: string): FeedToken {
    const fields = this.tokens.open(contextOf(userId), text)
    const pass = fields?.p
    const valid =
      fields !== undefined &&
      isPositionText(fields.s) &&
      isXid(fields.f) &&
      (pass === undefined || (Array.isArray(pass) && pass.length === 3 && isPositionText(pass.slice(0, 2)) && isXid(pass[2])))
    if (!valid) {
      if (isUnsealed(text)) {
        throw new HttpProblem(410, 'This sync token is from before sync tokens were sealed. Sync again without `since`.')
      }
      throw invalidRequest([{
        path: '/querystring/since',
        message: 'is not a sync token of yours: send the `next` of your previous page, or leave `since` out',
      }])
    }
    const scanned = pass as [string, string, string] | undefined
    return {
      safe: positionOf(fields.s as [string, string]),
      floor: BigInt(fields.f as string),
      ...(scanned && { pass: { scan: positionOf([scanned[0], scanned[1]]), horizon: BigInt(scanned[2]) } }),
    }
  }
}

const contextOf = (userId: string) => `sync\0${userId}`

/**
 * A token as this service issued them before it sealed them: base64url JSON with an owner digest (`u`), a
 * position (`x`, `i`) and a floor (`f`). Its fields cannot be trusted, but sending the client back to a sync from
 * nothing (410, which clients handle, where a 422 would leave them stuck) is safe and tells it nothing.
 */
function isUnsealed (text: string): boolean {
  const fields = objectOf(Buffer.from(text, 'base64url').toString('utf8'))
  return fields !== undefined && ['u', 'x', 'i', 'f'].every((name) => typeof fields[name] === 'string')
}
