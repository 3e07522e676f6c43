import type { Test } from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import type { AppOptions } from '../../src/app.js'
import { buildApp } from './app.js'

/** One pino log line, parsed. */
export type LogLine = Record<string, unknown> & { level: number; msg?: string; reqId?: string }

export interface LoggedApp {
  app: FastifyInstance
  /** Every line logged so far, at `info` and above. */
  lines: LogLine[]
  /** The lines logged while serving `response`, found by its request id. */
  linesOf(response: LightMyRequestResponse): LogLine[]
}

/** The app as buildApp builds it, with the server's logger options, logging at `info` into memory for the test to read. */
export async function buildLoggedApp (t: Test, env: Record<string, string | undefined> = {}, options: Omit<AppOptions, 'config'> = {}): Promise<LoggedApp> {
  const lines: LogLine[] = []
  const logStream = { write: (line: string) => { lines.push(JSON.parse(line) as LogLine) } }
  const app = await buildApp(t, { LOG_LEVEL: 'info', ...env }, { ...options, logStream })
  return { app, lines, linesOf: (response) => lines.filter((line) => line.reqId === response.headers['x-request-id']) }
}

/** pino's number for `info`. */
const INFO = 30

/** Why a token is refused: the 401's detail, and the `reason` of the info line that records the refusal. */
export interface Refusal {
  reason: string
  detail: string
}

/**
 * `response`, a refusal of `token`, says why in its detail, and exactly one `info` line records the same reason
 * without the token or its signature.
 */
export function assertRefusalLogged (t: Test, logged: LoggedApp, response: LightMyRequestResponse, token: string, refusal: Refusal): void {
  t.equal((JSON.parse(response.body) as { detail?: unknown }).detail, refusal.detail, 'the detail says why')
  const lines = logged.linesOf(response)
  const refusals = lines.filter((line) => line.msg === 'token refused')
  t.equal(refusals.length, 1, 'one log line records the refusal')
  t.match(refusals[0], { level: INFO, reason: refusal.reason, detail: refusal.detail }, 'at info, with the reason')
  t.notOk(JSON.stringify(lines).includes(token), 'the token is not logged')
  const signature = token.split('.')[2]
  if (signature) t.notOk(JSON.stringify(lines).includes(signature), 'nor its signature')
}
