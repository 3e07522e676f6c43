import { createHash } from 'node:crypto'
import { invalidRequest } from '../http/problem.js'
import type { FeedPosition } from '../repositories/tasks.js'
import { decodeOpaque, encodeOpaque, UUID } from './opaque-token.js'

/** Where a client's replica stands in the change feed. */
export interface SyncToken {
  position: FeedPosition
  /** Tombstones below this the client never needs (see TaskRepository.changes). */
  floor: bigint
}

/** A transaction id as the feed stores it: a non-negative bigint. */
const MAX_BIGINT = 2n ** 63n - 1n
const isXid = (value: unknown): value is string => typeof value === 'string' && /^\d{1,19}$/.test(value) && BigInt(value) <= MAX_BIGINT

/** A short digest of the owner: another user's token is refused, and the token never spells out a user id. */
const ownerTag = (userId: string) => createHash('sha256').update(userId).digest('base64url').slice(0, 16)

/** It holds positions in the caller's own feed only. */
export function encodeSyncToken(userId: string, token: SyncToken): string {
  const { position, floor } = token
  return encodeOpaque({ u: ownerTag(userId), x: String(position.xid), i: position.id, f: String(floor) })
}

/** The token a client sent as `since`: 422 when it is not one of the caller's. */
export function decodeSyncToken(text: string, userId: string): SyncToken {
  const fields = decodeOpaque(text)
  const valid =
    fields?.u === ownerTag(userId) &&
    isXid(fields.x) &&
    typeof fields.i === 'string' &&
    UUID.test(fields.i) &&
    isXid(fields.f)
  if (!valid) {
    throw invalidRequest([{ path: '/querystring/since', message: 'is not a sync token of yours: send the `next` of your previous page, or leave `since` out' }])
  }
  return { position: { xid: BigInt(fields!.x as string), id: fields!.i as string }, floor: BigInt(fields!.f as string) }
}
