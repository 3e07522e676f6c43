import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Config } from '../config.js'

const DEV_SECRET_FILE = join('.data', 'dev-secret')

/** Outside production there is always an HS256 secret; in production only the one configured, if any. */
export type ConfigWithDevSecret = Config &
  ({ NODE_ENV: 'production' } | { NODE_ENV: Exclude<Config['NODE_ENV'], 'production'>; BETTER_AUTH_SECRET: string })

/**
 * Outside production a missing BETTER_AUTH_SECRET is generated once and kept in ./.data, so `npm start` works
 * with no configuration and the tokens it prints stay valid across restarts. In production nothing is read or
 * written: whoever could read that file could sign a token for any user, so HS256 is then trusted only with an
 * explicit BETTER_AUTH_SECRET.
 */
export async function withDevSecret (config: Config): Promise<ConfigWithDevSecret> {
  const { NODE_ENV } = config
  if (NODE_ENV === 'production') return { ...config, NODE_ENV }
  return { ...config, NODE_ENV, BETTER_AUTH_SECRET: config.BETTER_AUTH_SECRET ?? (await keptDevSecret()) }
}

/** The secret in ./.data/dev-secret, generated there first if missing. */
async function keptDevSecret (): Promise<string> {
  let secret = ''
  try {
    secret = (await readFile(DEV_SECRET_FILE, 'utf8')).trim()
  } catch (error) {
    // Only a missing file is regenerated: any other failure would silently invalidate every issued token.
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
  if (secret === '') {
    secret = randomBytes(32).toString('base64url')
    await mkdir('.data', { recursive: true })
    await writeFile(DEV_SECRET_FILE, `${secret}\n`, { mode: 0o600 })
  }
  return secret
}
