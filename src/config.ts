import { existsSync } from 'node:fs'
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { parse as parseDuration } from '@lukeed/ms'
import { databaseTarget } from './db/target.js'

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

/** Every environment variable the service reads; `.env.example` documents each one. */
export const ConfigSchema = Type.Object({
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], { default: 'development' }),
  DATABASE_URL: Type.Optional(Type.String()),
  NEON_DB_URL: Type.Optional(Type.String()),
  BETTER_AUTH_SECRET: Type.Optional(Type.String()),
  BETTER_AUTH_URL: Type.Optional(Type.String()),
  JWKS_URL: Type.Optional(Type.String()),
  JWT_ISSUER: Type.Optional(Type.String()),
  JWT_AUDIENCE: Type.Optional(Type.String()),
  JWT_CLOCK_TOLERANCE: Type.Integer({ minimum: 0, maximum: 300, default: 30 }),
  CORS_ORIGINS: Type.String({ default: 'http://localhost:3000' }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8000 }),
  LOG_LEVEL: Type.Union(LOG_LEVELS.map((level) => Type.Literal(level)), { default: 'info' }),
  PUBLIC_URL: Type.Optional(Type.String()),
  RATE_LIMIT_MAX: Type.Integer({ minimum: 0, default: 300 }),
  RATE_LIMIT_WINDOW: Type.String({ default: '1 minute' }),
  REDIS_URL: Type.Optional(Type.String()),
  BODY_LIMIT: Type.Integer({ minimum: 1, maximum: 1_073_741_824, default: 65_536 }),
  SYNC_RETENTION: Type.String({ default: '30 days' }),
})

export type Config = Static<typeof ConfigSchema>

/** The variables that hold a duration, each with an example for the problem line. */
const DURATIONS = { RATE_LIMIT_WINDOW: '1 minute', SYNC_RETENTION: '30 days' } as const

/**
 * The values the service uses, parsed from the configuration once, at start, as their consumers take them:
 * durations in milliseconds, origins as a list. It takes what loadConfig returned.
 */
export function settingsOf (config: Config) {
  return {
    /** CORS_ORIGINS, split on commas and trimmed. */
    corsOrigins: corsOrigins(config),
    rateLimitWindowMs: durationOf(config, 'RATE_LIMIT_WINDOW'),
    syncRetentionMs: durationOf(config, 'SYNC_RETENTION'),
  }
}

export type Settings = ReturnType<typeof settingsOf>

/** The secret must resist brute force once real users' data sits behind it. */
const MIN_PRODUCTION_SECRET_LENGTH = 32

export class ConfigError extends Error {
  constructor (readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.join('\n')}`)
  }
}

/**
 * Validates the environment and applies defaults. Throws a ConfigError listing every problem, one line each.
 * Values that may carry credentials (URLs, secrets) are never echoed.
 */
export function loadConfig (env: Record<string, string | undefined>): Config {
  // `NAME=` in a .env file means "not set", as in most tools that read one.
  const present = Object.fromEntries(
    Object.keys(ConfigSchema.properties)
      .filter((name) => env[name] !== undefined && env[name] !== '')
      .map((name) => [name, env[name]])
  )
  // Checked first: Value.Default and Value.Convert work in place on `present`.
  const notWholeNumbers = notWholeNumberVariables(present)
  const candidate = Value.Convert(ConfigSchema, Value.Default(ConfigSchema, present)) as Config
  const problems = [
    ...notWholeNumbers.map((name) => `${name}: expected integer`),
    ...schemaProblems(candidate).filter(([name]) => !notWholeNumbers.includes(name)).map(([, line]) => line),
    ...consistencyProblems(candidate),
  ]
  if (problems.length > 0) throw new ConfigError(problems)
  return candidate
}

/** Reads `./.env` when present (real environment variables win), then validates `process.env`. */
export function loadConfigFromProcess (): Config {
  if (existsSync('.env')) process.loadEnvFile('.env')
  return loadConfig(process.env)
}

/** Value.Convert would quietly read `80.5` as 80 and `1e3` as 1: integers must be written as plain digits. */
function notWholeNumberVariables (present: Record<string, string | undefined>): string[] {
  return Object.entries(ConfigSchema.properties)
    .filter(([name, schema]) => schema.type === 'integer' && present[name] !== undefined && !/^-?\d+$/.test(present[name]))
    .map(([name]) => name)
}

/** The first schema problem of each variable, as [name, line]. */
function schemaProblems (candidate: Config): [string, string][] {
  const byVariable = new Map<string, string>()
  for (const error of Value.Errors(ConfigSchema, candidate)) {
    const name = error.path.slice(1)
    if (!byVariable.has(name)) byVariable.set(name, `${name}: ${describe(error.schema, error.message)}`)
  }
  return [...byVariable]
}

function describe (schema: TSchema, message: string): string {
  const choices = (schema.anyOf as TSchema[] | undefined)?.map((option) => option.const)
  return choices ? `must be one of ${choices.join(', ')}` : message.toLowerCase()
}

function consistencyProblems (config: Config): string[] {
  const problems: string[] = []
  try {
    databaseTarget(config)
  } catch (error) {
    problems.push((error as Error).message)
  }
  for (const origin of corsOrigins(config)) {
    // An entry with credentials is not quoted: it may hold a password.
    const shown = origin.includes('@') ? 'an entry with credentials' : `"${origin}"`
    if (!isOrigin(origin)) problems.push(`CORS_ORIGINS: ${shown} is not an origin such as https://app.example.com`)
  }
  for (const name of ['BETTER_AUTH_URL', 'JWKS_URL', 'PUBLIC_URL'] as const) {
    const value = config[name]
    if (value !== undefined && !isHttpUrl(value)) problems.push(`${name}: not an http(s) URL`)
  }
  if (config.REDIS_URL !== undefined && !hasProtocol(config.REDIS_URL, ['redis:', 'rediss:'])) {
    problems.push('REDIS_URL: not a redis:// or rediss:// URL')
  }
  for (const name of Object.keys(DURATIONS) as (keyof typeof DURATIONS)[]) {
    if (durationMs(config[name]) === undefined) problems.push(durationProblem(config, name))
  }
  if (config.JWKS_URL !== undefined && config.BETTER_AUTH_URL === undefined) {
    for (const name of ['JWT_ISSUER', 'JWT_AUDIENCE'] as const) {
      if (config[name] === undefined) problems.push(`${name}: required with JWKS_URL when BETTER_AUTH_URL is not set`)
    }
  }
  const jwksConfigured = config.BETTER_AUTH_URL !== undefined || config.JWKS_URL !== undefined
  if (config.NODE_ENV === 'production') {
    // In production the embedded database must be asked for by name: a forgotten URL would otherwise keep the
    // data in whatever ./.data the process happens to start in.
    if (config.DATABASE_URL === undefined && config.NEON_DB_URL === undefined) {
      problems.push('DATABASE_URL: required when NODE_ENV=production (a postgres:// URL, or pglite://<folder> for the embedded database)')
    }
    if (config.BETTER_AUTH_SECRET === undefined) {
      if (!jwksConfigured) problems.push('BETTER_AUTH_SECRET: required when NODE_ENV=production, unless BETTER_AUTH_URL or JWKS_URL is set')
    } else if (config.BETTER_AUTH_SECRET.length < MIN_PRODUCTION_SECRET_LENGTH) {
      problems.push(`BETTER_AUTH_SECRET: must be at least ${MIN_PRODUCTION_SECRET_LENGTH} characters when NODE_ENV=production`)
    }
  }
  return problems
}

function corsOrigins (config: Config): string[] {
  return config.CORS_ORIGINS.split(',').map((origin) => origin.trim()).filter(Boolean)
}

/** A duration variable in milliseconds; loadConfig has refused any value that is not one. */
function durationOf (config: Config, name: keyof typeof DURATIONS): number {
  return durationMs(config[name])!
}

function durationProblem (config: Config, name: keyof typeof DURATIONS): string {
  return `${name}: "${config[name]}" is not milliseconds or a duration such as ${DURATIONS[name]}`
}

/** Plain digits (milliseconds), or a duration such as `1 minute`, `30s` or `30 days`; undefined when neither. */
function durationMs (text: string): number | undefined {
  const trimmed = text.trim()
  const ms = /^\d+$/.test(trimmed) ? Number(trimmed) : parseDuration(trimmed)
  return ms !== undefined && Number.isSafeInteger(ms) && ms > 0 ? ms : undefined
}

function isHttpUrl (value: string): boolean {
  return hasProtocol(value, ['http:', 'https:'])
}

function hasProtocol (value: string, protocols: string[]): boolean {
  try {
    return protocols.includes(new URL(value).protocol)
  } catch {
    return false
  }
}

function isOrigin (value: string): boolean {
  try {
    return new URL(value).origin === value
  } catch {
    return false
  }
}
