import { once } from 'node:events'
import { connect } from 'node:net'
import type { Test } from 'tap'
import { API_SECURITY_HEADERS } from '../../src/plugins/security-headers.js'

export const REQUEST_ID = /^[0-9a-f-]{36}$/

/** Sends raw bytes over a new connection and returns everything the server answers before closing it. */
export async function rawExchange(port: number, request: string): Promise<string> {
  const socket = connect(port, '127.0.0.1')
  let answer = ''
  socket.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk))
  const closed = once(socket, 'close')
  socket.end(request)
  await closed
  return answer
}

/** The header fields of a raw answer, by lower-case name. */
export function parseHead(answer: string): Record<string, string> {
  const [, ...lines] = (answer.split('\r\n\r\n')[0] ?? '').split('\r\n')
  return Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]))
}

/** The problem document of a raw answer; throws when the answer is not one. */
export function problemIn(answer: string): Record<string, unknown> {
  const [head, body] = answer.split('\r\n\r\n')
  if (!/content-type: application\/problem\+json/i.test(head ?? '')) throw new Error(`not a problem: ${answer}`)
  return JSON.parse(body ?? '') as Record<string, unknown>
}

/** What every answer carries (lower-case names, as inject and parseHead give them); `/api` answers also no-store. */
export function answersLikeEveryOther(t: Test, headers: Record<string, unknown>, { api }: { api: boolean }, what: string): void {
  for (const [name, value] of Object.entries(API_SECURITY_HEADERS)) t.equal(headers[name], value, `${what}: ${name}`)
  t.ok(headers['x-request-id'], `${what}: x-request-id`)
  if (api) t.equal(headers['cache-control'], 'no-store', `${what}: Cache-Control: no-store`)
}
