import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Config } from '../config.js'

const DEV_SECRET_FILE = join('.data', 'dev-secret')

/**
 * Outside production a missing BETTER_AUTH_SECRET is generated once and kept in ./.data, so `npm start` works
 * with no configuration and the tokens it prints stay valid across restarts. In production this returns the
 * configuration as it is: src/config.ts has already refused to start without a secret.
 */
export async function withDevSecret(config: Config): Promise<Config & { BETTER_AUTH_SECRET: string }> {
  if (config.BETTER_AUTH_SECRET !== undefined) return { ...config, BETTER_AUTH_SECRET: config.BETTER_AUTH_SECRET }
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
  return { ...config, BETTER_AUTH_SECRET: secret }
}
