import { createHash } from 'node:crypto'
import { invalidRequest } from '../http/problem.js'
import type { FeedPosition, FeedToken } from '../repositories/tasks.js'
import { decodeOpaque, encodeOpaque, UUID } from './opaque-token.js'

/** A transaction id as the feed stores it: a non-negative bigint. */
const MAX_BIGINT = 2n ** 63n - 1n
const isXid = (value: unknown): value is string => typeof value === 'string' && /^\d{1,19}$/.test(value) && BigInt(value) <= MAX_BIGINT

/** A position as a token holds it: `[xid, id]`. */
const positionText = (position: FeedPosition) => [String(position.xid), position.id]
const isPositionText = (value: unknown): value is [string, string] =>
  Array.isArray(value) && value.length === 2 && isXid(value[0]) && typeof value[1] === 'string' && UUID.test(value[1])
const positionOf = ([xid, id]: [string, string]): FeedPosition => ({ xid: BigInt(xid), id })

/** A short digest of the owner: another user's token is refused, and the token never spells out a user id. */
const ownerTag = (userId: string) => createHash('sha256').update(userId).digest('base64url').slice(0, 16)

/** It holds positions in the caller's own feed only. */
export function encodeSyncToken(userId: string, token: FeedToken): string {
  const { safe, pass, floor } = token
  return encodeOpaque({
    u: ownerTag(userId),
    s: positionText(safe),
    f: String(floor),
    ...(pass && { p: [...positionText(pass.scan), String(pass.horizon)] }),
  })
}

/** The token a client sent as `since`: 422 when it is not one of the caller's. */
export function decodeSyncToken(text: string, userId: string): FeedToken {
  const fields = decodeOpaque(text)
  const pass = fields?.p
  const valid =
    fields?.u === ownerTag(userId) &&
    isPositionText(fields.s) &&
    isXid(fields.f) &&
    (pass === undefined || (Array.isArray(pass) && pass.length === 3 && isPositionText(pass.slice(0, 2)) && isXid(pass[2])))
  if (!valid) {
    throw invalidRequest([{ path: '/querystring/since', message: 'is not a sync token of yours: send the `next` of your previous page, or leave `since` out' }])
  }
  const scanned = pass as [string, string, string] | undefined
  return {
    safe: positionOf(fields!.s as [string, string]),
    floor: BigInt(fields!.f as string),
    ...(scanned && { pass: { scan: positionOf([scanned[0], scanned[1]]), horizon: BigInt(scanned[2]) } }),
  }
}
