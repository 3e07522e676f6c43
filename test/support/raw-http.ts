import { once } from 'node:events'
import { connect } from 'node:net'
import type { Test } from 'tap'
import { API_SECURITY_HEADERS } from '../../src/plugins/security-headers.js'

export const REQUEST_ID = /^[0-9a-f-]{36}$/

/** Sends raw bytes over a new connection and returns everything the server answers before closing it. */
export async function rawExchange (port: number, request: string): Promise<string> {
  const socket = connect(port, '127.0.0.1')
  let answer = ''
  socket.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk))
  const closed = once(socket, 'close')
  socket.end(request)
  await closed
  return answer
}

/**
 * Sends `head`, then `drip` every 1.5 s, as a slow (or malicious) client does, until the server closes the
 * connection or `giveUpMs` passes. Returns what the server answered and when the connection closed.
 */
export async function trickle (port: number, head: string, drip: string, giveUpMs: number): Promise<{ answer: string; seconds: number }> {
  const socket = connect(port, '127.0.0.1')
  let answer = ''
  socket.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk))
  // A drip may meet a connection the server just closed.
  socket.on('error', () => undefined)
  const started = performance.now()
  const closed = new Promise((resolve) => socket.on('close', resolve))
  socket.write(head)
  const dripping = setInterval(() => socket.write(drip), 1_500)
  const givingUp = setTimeout(() => socket.destroy(), giveUpMs)
  await closed
  clearInterval(dripping)
  clearTimeout(givingUp)
  return { answer, seconds: (performance.now() - started) / 1000 }
}

/** The header fields of a raw answer, by lower-case name. */
export function parseHead (answer: string): Record<string, string> {
  const [, ...lines] = (answer.split('\r\n\r\n')[0] ?? '').split('\r\n')
  return Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]))
}

/** The problem document of a raw answer; throws when the answer is not one. */
export function problemIn (answer: string): Record<string, unknown> {
  const [head, body] = answer.split('\r\n\r\n')
  if (!/content-type: application\/problem\+json/i.test(head ?? '')) throw new Error(`not a problem: ${answer}`)
  return JSON.parse(body ?? '') as Record<string, unknown>
}

/** What every answer carries (lower-case names, as inject and parseHead give them); `/api` answers also no-store. */
export function answersLikeEveryOther (t: Test, headers: Record<string, unknown>, { api }: { api: boolean }, what: string): void {
  for (const [name, value] of Object.entries(API_SECURITY_HEADERS)) t.equal(headers[name], value, `${what}: ${name}`)
  t.ok(headers['x-request-id'], `${what}: x-request-id`)
  if (api) t.equal(headers['cache-control'], 'no-store', `${what}: Cache-Control: no-store`)
}
