import { invalidRequest, type HttpProblem } from '../../http/problem.js'
import type { Cursor } from '../../repositories/tasks.js'
import { UUID, type OpaqueTokens } from '../../http/opaque-token.js'

/** What a cursor is bound to: a cursor from one order means nothing in another. */
interface Ordering {
  sort: string
  order: string
}

/** Listing cursors: sealed, and bound to their user and their listing's ordering (see OpaqueTokens). */
export class ListCursors {
  constructor (private readonly tokens: OpaqueTokens) {}

  /** The position, for this user's listing in this ordering. */
  encode (userId: string, cursor: Cursor, ordering: Ordering): string {
    return this.tokens.seal(contextOf(userId, ordering), { k: cursor.key, i: cursor.id })
  }

  /** The position a cursor names; a 422 naming `cursor` when it is not one this user got for this ordering. */
  decode (userId: string, text: string, ordering: Ordering): Cursor {
    const fields = this.tokens.open(contextOf(userId, ordering), text)
    const valid =
      fields !== undefined &&
      (fields.k === null || typeof fields.k === 'string') &&
      typeof fields.i === 'string' &&
      UUID.test(fields.i)
    if (!valid) throw invalidCursor()
    return { key: fields.k as string | null, id: fields.i as string }
  }
}

/** Sorts and orders are words from short lists, and the user id comes last: no two contexts read the same. */
const contextOf = (userId: string, { sort, order }: Ordering) => `cursor\0${sort}\0${order}\0${userId}`

/** The 422 for a cursor that is not one of ours, or is from another ordering. */
export function invalidCursor (): HttpProblem {
  const message = 'is not a cursor from this listing: take it from the Link header of the previous page, with the same sort and order'
  return invalidRequest([{ path: '/querystring/cursor', message }])
}

/** The URL of the next page: the request's own path (either path style) and parameters, with the new cursor. */
export function nextPageLink (requestUrl: string, cursor: string): string {
  const url = new URL(requestUrl, 'http://localhost')
  url.searchParams.set('cursor', cursor)
  return `<${url.pathname}${url.search}>; rel="next"`
}
