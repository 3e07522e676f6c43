import type { Static } from '@sinclair/typebox'
import type { Test } from 'tap'
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import { createSigner } from 'fast-jwt'
import app, { serverOptions, type AppOptions } from '../../src/app.js'
import { loadConfig, type Config } from '../../src/config.js'
import { loggerOptions } from '../../src/logging.js'
import type { Task } from '../../src/schemas/task.js'
import { useRunCluster } from './fresh-cluster.js'

useRunCluster()

/** The shared secret every test app trusts. */
export const TEST_SECRET = 'test-secret-that-is-at-least-32-characters-long'

/** A validated configuration, exactly as the server builds one, from test defaults plus `env`. */
export function testConfig (env: Record<string, string | undefined> = {}): Config {
  // Rate limiting is off unless a test turns it on: property tests send hundreds of requests as one user.
  return loadConfig({ NODE_ENV: 'test', DATABASE_URL: 'memory://', BETTER_AUTH_SECRET: TEST_SECRET, LOG_LEVEL: 'silent', RATE_LIMIT_MAX: '0', ...env })
}

export interface BuildOptions extends Omit<AppOptions, 'config'> {
  /** Where the log lines go (with LOG_LEVEL set); stdout by default. */
  logStream?: { write(line: string): void }
}

/**
 * Builds the app the way src/server.ts does (same options, same plugin), ready, and closed when `t` ends.
 * `options` inject what the server leaves at its defaults: a clock, the in-flight wait, the log's stream.
 */
export async function buildApp (
  t: Test,
  env: Record<string, string | undefined> = {},
  { logStream, ...options }: BuildOptions = {}
): Promise<FastifyInstance> {
  const config = testConfig(env)
  const logger = config.LOG_LEVEL === 'silent' ? false : { ...loggerOptions(config.LOG_LEVEL), ...(logStream && { stream: logStream }) }
  const server = Fastify({ ...serverOptions, logger })
  server.register(app, { config, ...options })
  t.teardown(() => server.close())
  await server.ready()
  return server
}

/** Starts `app` on a loopback port of the OS's choosing (closed by buildApp's teardown) and returns its base URL. */
export async function listen (app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 })
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
}

/** A valid HS256 token for `sub`; `claims` and `options` override what a real client would get. */
export function tokenFor (sub: string | undefined, claims: Record<string, unknown> = {}, options: Record<string, unknown> = {}): string {
  const sign = createSigner({ key: TEST_SECRET, algorithm: 'HS256', expiresIn: 60_000, ...options })
  return sign({ ...(sub !== undefined && { sub }), ...claims })
}

export function bearer (sub: string): Record<string, string> {
  return { authorization: `Bearer ${tokenFor(sub)}` }
}

/** The parsed JSON body of a response; fails loudly when the body is not JSON. */
export function json<T = Record<string, unknown>> (response: LightMyRequestResponse): T {
  return JSON.parse(response.body) as T
}

/** A value as it arrives over the wire: dates are RFC 3339 strings. */
type Wire<T> = T extends Date ? string : T

/** A task as it arrives over the wire, from the schema the server serializes it with. */
export type TaskJson = { [K in keyof Static<typeof Task>]: Wire<Static<typeof Task>[K]> }
