import { randomUUID } from 'node:crypto'
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import { API_ANSWER_HEADERS } from '../plugins/security-headers.js'
import { PROBLEM_CONTENT_TYPE } from './problem.js'

/** What Node's HTTP parser reports before any route sees a request, as the status the client gets. */
const STATUS_BY_CODE: Record<string, number> = {
  ERR_HTTP_REQUEST_TIMEOUT: 408,
  HPE_HEADER_OVERFLOW: 431,
}

/**
 * The headers of every `/api` answer, as header lines: the path may not have been read, and an error answer
 * is worth no cache anyway.
 */
const ANSWER_HEADER_LINES = Object.entries(API_ANSWER_HEADERS)
  .map(([name, value]) => `${name}: ${value}\r\n`)
  .join('')

/**
 * Fastify's `clientErrorHandler`: a request the HTTP parser refuses (malformed, headers too large, not
 * received within the request timeout) still gets a problem document, with a fresh request id since no
 * request was ever built; then the connection closes, as Node itself would close it.
 */
export function answerClientError (error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  if (socket.writable) {
    const status = STATUS_BY_CODE[error.code ?? ''] ?? 400
    const title = STATUS_CODES[status] as string
    const requestId = randomUUID()
    const body = JSON.stringify({
      type: 'about:blank',
      title,
      status,
      detail: status === 408 ? 'The request was not received in time.' : 'The request could not be read as HTTP.',
      request_id: requestId,
    })
    socket.write(
      `HTTP/1.1 ${status} ${title}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nX-Request-Id: ${requestId}\r\n` +
        `${ANSWER_HEADER_LINES}Connection: close\r\n\r\n${body}`
    )
  }
  socket.destroy(error)
}
