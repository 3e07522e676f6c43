import { invalidRequest, type HttpProblem } from '../http/problem.js'
import type { Cursor } from '../repositories/tasks.js'
import { decodeOpaque, encodeOpaque, UUID } from './opaque-token.js'

/** What a cursor is bound to: a cursor from one order means nothing in another. */
interface Ordering {
  sort: string
  order: string
}

/** The position and the ordering it belongs to. */
export function encodeCursor(cursor: Cursor, ordering: Ordering): string {
  return encodeOpaque({ s: ordering.sort, o: ordering.order, k: cursor.key, i: cursor.id })
}

/** The position a cursor names; a 422 naming `cursor` when it is malformed or from another ordering. */
export function decodeCursor(text: string, ordering: Ordering): Cursor {
  const decoded = decodeOpaque(text)
  const valid =
    decoded?.s === ordering.sort &&
    decoded.o === ordering.order &&
    (decoded.k === null || typeof decoded.k === 'string') &&
    typeof decoded.i === 'string' &&
    UUID.test(decoded.i)
  if (!valid) throw invalidCursor()
  return { key: decoded!.k as string | null, id: decoded!.i as string }
}

/** The 422 for a cursor that is not one of ours, or is from another ordering. */
export function invalidCursor(): HttpProblem {
  const message = 'is not a cursor from this listing: take it from the Link header of the previous page, with the same sort and order'
  return invalidRequest([{ path: '/querystring/cursor', message }])
}

/** The URL of the next page: the request's own path (either path style) and parameters, with the new cursor. */
export function nextPageLink(requestUrl: string, cursor: string): string {
  const url = new URL(requestUrl, 'http://localhost')
  url.searchParams.set('cursor', cursor)
  return `<${url.pathname}${url.search}>; rel="next"`
}
