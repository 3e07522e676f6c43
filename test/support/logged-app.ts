import type { Test } from 'tap'
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import app, { serverOptions, type AppOptions } from '../../src/app.js'
import { testConfig } from './app.js'

/** One pino log line, parsed. */
export type LogLine = Record<string, unknown> & { level: number; msg?: string; reqId?: string }

export interface LoggedApp {
  app: FastifyInstance
  /** Every line logged so far, at `info` and above. */
  lines: LogLine[]
  /** The lines logged while serving `response`, found by its request id. */
  linesOf(response: LightMyRequestResponse): LogLine[]
}

/** Builds the app as test/support/app.ts's buildApp does, but logging at `info` into memory for the test to read. */
export async function buildLoggedApp(t: Test, env: Record<string, string | undefined> = {}, options: Omit<AppOptions, 'config'> = {}): Promise<LoggedApp> {
  const lines: LogLine[] = []
  const stream = { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) }
  const server = Fastify({ ...serverOptions, logger: { level: 'info', stream } })
  server.register(app, { config: testConfig(env), ...options })
  t.teardown(() => server.close())
  await server.ready()
  return { app: server, lines, linesOf: (response) => lines.filter((line) => line.reqId === response.headers['x-request-id']) }
}
