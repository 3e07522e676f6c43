import { ConfigError, loadConfigFromProcess, type Config } from './config.js'
import { isDatabaseUnavailable } from './db/errors.js'

/** What the server and the command-line scripts share when they start: one line per problem, then exit 1. */
export function exitWith (...lines: string[]): never {
  for (const line of lines) console.error(line)
  process.exit(1)
}

export function loadConfigOrExit (): Config {
  try {
    return loadConfigFromProcess()
  } catch (error) {
    if (error instanceof ConfigError) exitWith(...error.problems.map((problem) => `Configuration error: ${problem}`))
    throw error
  }
}

/**
 * One line saying why start-up failed. Drivers wrap the cause ("Failed query: …" around ECONNREFUSED or
 * "database does not exist"), so the innermost error is the one worth printing.
 */
export function describeStartupError (error: unknown): string {
  let innermost = error
  while (innermost instanceof Error && innermost.cause instanceof Error) innermost = innermost.cause
  const { message, code } = innermost as { message?: string; code?: string }
  const reason = (message || code || String(innermost)).replace(/\s+/g, ' ').trim()
  return isDatabaseUnavailable(error) ? `the database cannot be reached: ${reason}` : reason
}
