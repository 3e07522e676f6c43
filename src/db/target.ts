import type { Config } from '../config.js'

/** Where the data lives, decided by DATABASE_URL (or NEON_DB_URL, the original plan's name). */
export type DatabaseTarget =
  | { driver: 'pglite'; dataDir: string | undefined }
  | { driver: 'neon-http'; url: string }
  | { driver: 'node-postgres'; url: string }

/** Embedded database folder used outside production when no URL is configured. */
export const DEFAULT_PGLITE_DIR = './.data/pglite'

/** `pglite://<folder>` names the embedded database's folder: `pglite://./data` (relative), `pglite:///var/lib/tasks`. */
const PGLITE_SCHEME = /^pglite:\/\//i

const EXPECTED = 'expected postgres://…, pglite://<folder> or memory://'

export function databaseTarget (config: Pick<Config, 'DATABASE_URL' | 'NEON_DB_URL'>): DatabaseTarget {
  const variable = config.DATABASE_URL !== undefined ? 'DATABASE_URL' : 'NEON_DB_URL'
  const url = config[variable]
  if (url === undefined) return { driver: 'pglite', dataDir: DEFAULT_PGLITE_DIR }
  if (url === 'memory://') return { driver: 'pglite', dataDir: undefined }
  // The folder is taken as written, not parsed as a URL: a relative path has no host to parse.
  if (PGLITE_SCHEME.test(url)) {
    const dataDir = url.replace(PGLITE_SCHEME, '')
    if (dataDir === '') throw new Error(`${variable}: pglite:// needs a folder, such as pglite://./data/pglite`)
    return { driver: 'pglite', dataDir }
  }

  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new Error(`${variable}: not a valid URL (${EXPECTED})`)
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new Error(`${variable}: unsupported scheme "${parsed.protocol}" (${EXPECTED})`)
  }
  const isNeon = parsed.hostname === 'neon.tech' || parsed.hostname.endsWith('.neon.tech')
  return isNeon ? { driver: 'neon-http', url } : { driver: 'node-postgres', url }
}
