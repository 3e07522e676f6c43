import t from 'tap'
import { ConfigError, loadConfig, loadConfigFromProcess, settingsOf, type Config } from '../src/config.js'
import { databaseTarget, DEFAULT_PGLITE_DIR } from '../src/db/target.js'

/**
 * Configuration (contract §6 and §8): defaults, conversions, and one clear line per bad value, naming the
 * variable and never echoing a secret or a password.
 */

/** The problem lines `loadConfig(env)` throws; `[]` when the environment is accepted. */
function problemsOf (env: Record<string, string | undefined>): string[] {
  try {
    loadConfig(env)
    return []
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    return error.problems
  }
}

/** The variable each problem line names (the text before its first colon). */
const named = (problems: string[]) => problems.map((line) => line.slice(0, line.indexOf(':')))

t.test('defaults with an empty environment', async (t) => {
  const config = loadConfig({})
  t.match(config, { HOST: '127.0.0.1', PORT: 8000, LOG_LEVEL: 'info', CORS_ORIGINS: 'http://localhost:3000', JWT_CLOCK_TOLERANCE: 30 })
  t.match(config, { RATE_LIMIT_MAX: 300, RATE_LIMIT_WINDOW: '1 minute', BODY_LIMIT: 65536 })
  t.equal(settingsOf(config).rateLimitWindowMs, 60_000)
  t.equal(config.NODE_ENV, 'development')
  for (const unset of ['DATABASE_URL', 'NEON_DB_URL', 'BETTER_AUTH_SECRET', 'JWT_ISSUER', 'JWT_AUDIENCE', 'REDIS_URL', 'PUBLIC_URL'] as const) {
    t.equal(config[unset], undefined, `${unset} stays unset`)
  }
})

t.test('numeric strings become numbers', async (t) => {
  const config = loadConfig({ PORT: '9000', JWT_CLOCK_TOLERANCE: '0', RATE_LIMIT_MAX: '0', BODY_LIMIT: '1024' })
  t.equal(config.PORT, 9000)
  t.equal(config.JWT_CLOCK_TOLERANCE, 0)
  t.equal(config.RATE_LIMIT_MAX, 0, '0 turns rate limiting off')
  t.equal(config.BODY_LIMIT, 1024)
})

t.test('RATE_LIMIT_WINDOW takes milliseconds or a duration', async (t) => {
  for (const [window, ms] of [['60000', 60_000], ['30s', 30_000], ['1 minute', 60_000], ['2 hours', 7_200_000], [' 5m ', 300_000]] as const) {
    t.equal(settingsOf(loadConfig({ RATE_LIMIT_WINDOW: window })).rateLimitWindowMs, ms, window)
  }
})

t.test('SYNC_RETENTION takes milliseconds or a duration, 30 days by default', async (t) => {
  t.equal(settingsOf(loadConfig({})).syncRetentionMs, 30 * 24 * 60 * 60 * 1000)
  for (const [retention, ms] of [['86400000', 86_400_000], ['7 days', 604_800_000], ['12h', 43_200_000]] as const) {
    t.equal(settingsOf(loadConfig({ SYNC_RETENTION: retention })).syncRetentionMs, ms, retention)
  }
})

t.test('settings are parsed once from the configuration loadConfig accepts', async (t) => {
  t.same(settingsOf(loadConfig({ CORS_ORIGINS: 'https://a.example', RATE_LIMIT_WINDOW: '2s', SYNC_RETENTION: '1 day' })), {
    corsOrigins: ['https://a.example'],
    rateLimitWindowMs: 2_000,
    syncRetentionMs: 86_400_000,
  })
})

t.test('values are taken as given', async (t) => {
  const config = loadConfig({ HOST: '0.0.0.0', LOG_LEVEL: 'debug', JWT_ISSUER: 'https://auth.example.com', JWT_AUDIENCE: 'tasks-api' })
  t.match(config, { HOST: '0.0.0.0', LOG_LEVEL: 'debug', JWT_ISSUER: 'https://auth.example.com', JWT_AUDIENCE: 'tasks-api' })
})

t.test('variables the service does not read are left out', async (t) => {
  const config = loadConfig({ PATH: '/usr/bin', HOME: '/root' })
  t.notOk('PATH' in config)
  t.notOk('HOME' in config)
})

t.test('empty strings are treated as unset', async (t) => {
  const empty = Object.fromEntries(
    ['NODE_ENV', 'HOST', 'PORT', 'LOG_LEVEL', 'CORS_ORIGINS', 'JWT_CLOCK_TOLERANCE', 'DATABASE_URL', 'NEON_DB_URL', 'BETTER_AUTH_SECRET', 'JWT_ISSUER', 'JWT_AUDIENCE', 'PUBLIC_URL', 'RATE_LIMIT_MAX', 'RATE_LIMIT_WINDOW', 'REDIS_URL', 'BODY_LIMIT'].map(
      (name) => [name, '']
    )
  )
  t.same(loadConfig(empty), loadConfig({}), 'the same configuration as an empty environment')
  t.same(named(problemsOf({ NODE_ENV: 'production', DATABASE_URL: 'memory://', BETTER_AUTH_SECRET: '' })), ['BETTER_AUTH_SECRET'], 'an empty secret is a missing secret')
  t.same(named(problemsOf({ NODE_ENV: 'production', DATABASE_URL: '', BETTER_AUTH_SECRET: 's'.repeat(32) })), ['DATABASE_URL'], 'an empty URL is a missing URL')
})

t.test('production accepts the embedded database only when DATABASE_URL names it', async (t) => {
  const config = loadConfig({ NODE_ENV: 'production', DATABASE_URL: 'pglite://./var/tasks', BETTER_AUTH_SECRET: 's'.repeat(32) })
  t.same(databaseTarget(config), { driver: 'pglite', dataDir: './var/tasks' })
  t.same(databaseTarget(loadConfig({ NODE_ENV: 'production', NEON_DB_URL: 'memory://', BETTER_AUTH_SECRET: 's'.repeat(32) })), { driver: 'pglite', dataDir: undefined }, 'memory:// is explicit too')
})

t.test('a production configuration with a long enough secret is accepted', async (t) => {
  const secret = 's'.repeat(32)
  const config = loadConfig({ NODE_ENV: 'production', BETTER_AUTH_SECRET: secret, DATABASE_URL: 'postgres://app:pw@db.internal:5432/tasks' })
  t.equal(config.BETTER_AUTH_SECRET, secret)
})

t.test('each bad value gives its own line, naming the variable', async (t) => {
  const secret31 = 'a-production-secret-of-31-chars'
  t.equal(secret31.length, 31)
  const cases: { name: string; env: Record<string, string>; variable: string; says: RegExp }[] = [
    { name: 'non-numeric PORT', env: { PORT: 'eighty' }, variable: 'PORT', says: /integer/ },
    { name: 'PORT above 65535', env: { PORT: '70000' }, variable: 'PORT', says: /65535/ },
    { name: 'PORT 80.5', env: { PORT: '80.5' }, variable: 'PORT', says: /integer/ },
    { name: 'PORT 1e3', env: { PORT: '1e3' }, variable: 'PORT', says: /integer/ },
    { name: 'NODE_ENV prod (a typo)', env: { NODE_ENV: 'prod' }, variable: 'NODE_ENV', says: /development, production, test/ },
    { name: 'LOG_LEVEL loud', env: { LOG_LEVEL: 'loud' }, variable: 'LOG_LEVEL', says: /fatal, error, warn, info, debug, trace, silent/ },
    { name: 'JWT_CLOCK_TOLERANCE -1', env: { JWT_CLOCK_TOLERANCE: '-1' }, variable: 'JWT_CLOCK_TOLERANCE', says: /greater or equal to 0/ },
    { name: 'JWT_CLOCK_TOLERANCE 2.5', env: { JWT_CLOCK_TOLERANCE: '2.5' }, variable: 'JWT_CLOCK_TOLERANCE', says: /integer/ },
    { name: 'DATABASE_URL not a URL', env: { DATABASE_URL: 'not a url' }, variable: 'DATABASE_URL', says: /not a valid URL/ },
    { name: 'DATABASE_URL with an unsupported scheme', env: { DATABASE_URL: 'mysql://x/y' }, variable: 'DATABASE_URL', says: /unsupported scheme "mysql:"/ },
    { name: 'NEON_DB_URL bad while DATABASE_URL is unset', env: { NEON_DB_URL: 'neon please' }, variable: 'NEON_DB_URL', says: /not a valid URL/ },
    { name: 'CORS_ORIGINS entry not an origin', env: { CORS_ORIGINS: 'http://ok.example.com,not-an-origin' }, variable: 'CORS_ORIGINS', says: /"not-an-origin" is not an origin/ },
    { name: 'CORS_ORIGINS entry with a path', env: { CORS_ORIGINS: 'https://x.example.com/path' }, variable: 'CORS_ORIGINS', says: /is not an origin/ },
    { name: 'CORS_ORIGINS entry with a trailing slash', env: { CORS_ORIGINS: 'https://x.example.com/' }, variable: 'CORS_ORIGINS', says: /is not an origin/ },
    { name: 'CORS_ORIGINS *', env: { CORS_ORIGINS: '*' }, variable: 'CORS_ORIGINS', says: /is not an origin/ },
    { name: 'production without a secret', env: { NODE_ENV: 'production', DATABASE_URL: 'memory://' }, variable: 'BETTER_AUTH_SECRET', says: /required when NODE_ENV=production/ },
    { name: 'production without a database', env: { NODE_ENV: 'production', BETTER_AUTH_SECRET: 's'.repeat(32) }, variable: 'DATABASE_URL', says: /required when NODE_ENV=production .*pglite:\/\// },
    { name: 'pglite:// without a folder', env: { DATABASE_URL: 'pglite://' }, variable: 'DATABASE_URL', says: /pglite:\/\/ needs a folder/ },
    { name: 'BETTER_AUTH_URL not a URL', env: { BETTER_AUTH_URL: 'auth.example.com' }, variable: 'BETTER_AUTH_URL', says: /not an http\(s\) URL/ },
    { name: 'JWKS_URL with another scheme', env: { JWKS_URL: 'ftp://auth.example.com/jwks', JWT_ISSUER: 'i', JWT_AUDIENCE: 'a' }, variable: 'JWKS_URL', says: /not an http\(s\) URL/ },
    { name: 'JWKS_URL without an issuer to expect', env: { JWKS_URL: 'https://auth.example.com/jwks', JWT_AUDIENCE: 'a' }, variable: 'JWT_ISSUER', says: /required with JWKS_URL/ },
    { name: 'JWKS_URL without an audience to expect', env: { JWKS_URL: 'https://auth.example.com/jwks', JWT_ISSUER: 'i' }, variable: 'JWT_AUDIENCE', says: /required with JWKS_URL/ },
    { name: 'RATE_LIMIT_MAX negative', env: { RATE_LIMIT_MAX: '-1' }, variable: 'RATE_LIMIT_MAX', says: /greater or equal to 0/ },
    { name: 'RATE_LIMIT_MAX not a number', env: { RATE_LIMIT_MAX: 'lots' }, variable: 'RATE_LIMIT_MAX', says: /integer/ },
    { name: 'RATE_LIMIT_WINDOW not a duration', env: { RATE_LIMIT_WINDOW: 'a while' }, variable: 'RATE_LIMIT_WINDOW', says: /"a while" is not milliseconds or a duration/ },
    { name: 'RATE_LIMIT_WINDOW zero', env: { RATE_LIMIT_WINDOW: '0' }, variable: 'RATE_LIMIT_WINDOW', says: /not milliseconds or a duration/ },
    { name: 'SYNC_RETENTION not a duration', env: { SYNC_RETENTION: 'forever' }, variable: 'SYNC_RETENTION', says: /"forever" is not milliseconds or a duration such as 30 days/ },
    { name: 'RATE_LIMIT_WINDOW negative', env: { RATE_LIMIT_WINDOW: '-1m' }, variable: 'RATE_LIMIT_WINDOW', says: /not milliseconds or a duration/ },
    { name: 'BODY_LIMIT not a number', env: { BODY_LIMIT: '64k' }, variable: 'BODY_LIMIT', says: /integer/ },
    { name: 'BODY_LIMIT zero', env: { BODY_LIMIT: '0' }, variable: 'BODY_LIMIT', says: /greater or equal to 1/ },
    { name: 'REDIS_URL with another scheme', env: { REDIS_URL: 'http://127.0.0.1:6379' }, variable: 'REDIS_URL', says: /not a redis:\/\/ or rediss:\/\/ URL/ },
    { name: 'REDIS_URL not a URL', env: { REDIS_URL: 'localhost' }, variable: 'REDIS_URL', says: /not a redis/ },
    { name: 'PUBLIC_URL not a URL', env: { PUBLIC_URL: 'api.example.com' }, variable: 'PUBLIC_URL', says: /not an http\(s\) URL/ },
    { name: 'production with a 31-character secret', env: { NODE_ENV: 'production', DATABASE_URL: 'memory://', BETTER_AUTH_SECRET: secret31 }, variable: 'BETTER_AUTH_SECRET', says: /at least 32 characters/ },
  ]
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const problems = problemsOf(c.env)
      t.same(named(problems), [c.variable], `one line naming ${c.variable}`)
      t.match(problems[0], c.says)
      t.notOk(problems[0]?.includes('\n'), 'a single line')
    })
  }
})

t.test('production may trust a Better Auth JWKS alone, without a shared secret', async (t) => {
  const config = loadConfig({ NODE_ENV: 'production', DATABASE_URL: 'postgres://app:pw@db.internal/tasks', BETTER_AUTH_URL: 'https://auth.example.com' })
  t.equal(config.BETTER_AUTH_SECRET, undefined)
  t.equal(config.BETTER_AUTH_URL, 'https://auth.example.com')
})

t.test('the thrown ConfigError carries every line, in its problems and in its message', async (t) => {
  const error = t.throws(() => loadConfig({ PORT: 'x', LOG_LEVEL: 'loud' })) as ConfigError
  t.type(error, ConfigError)
  t.equal(error.problems.length, 2)
  t.equal(error.message, `Invalid configuration:\n${error.problems.join('\n')}`)
})

t.test('several bad values at once: one line each', async (t) => {
  const schema = problemsOf({ PORT: 'x', LOG_LEVEL: 'loud', JWT_CLOCK_TOLERANCE: '-1' })
  t.equal(schema.length, 3)
  t.same(named(schema).sort(), ['JWT_CLOCK_TOLERANCE', 'LOG_LEVEL', 'PORT'])

  const consistency = problemsOf({ DATABASE_URL: 'mysql://x/y', CORS_ORIGINS: 'not-an-origin,*', NODE_ENV: 'production' })
  t.equal(consistency.length, 4)
  t.same(named(consistency).sort(), ['BETTER_AUTH_SECRET', 'CORS_ORIGINS', 'CORS_ORIGINS', 'DATABASE_URL'])

  const mixed = problemsOf({ PORT: 'x', DATABASE_URL: 'mysql://x/y', NODE_ENV: 'production' })
  t.same(named(problemsOf({ NODE_ENV: 'production' })).sort(), ['BETTER_AUTH_SECRET', 'DATABASE_URL'], 'production without a secret or a database: both named')
  t.same(named(mixed).sort(), ['BETTER_AUTH_SECRET', 'DATABASE_URL', 'PORT'], 'a schema problem does not hide the others')
})

t.test('no problem line echoes a secret or a password', async (t) => {
  const password = 'hunter2'
  const secret = `${password}-short-prod-secret`
  const cases: { name: string; env: Record<string, string> }[] = [
    { name: 'DATABASE_URL with an unsupported scheme', env: { DATABASE_URL: `mysql://user:${password}@h/db` } },
    { name: 'DATABASE_URL that does not parse', env: { DATABASE_URL: `postgres://user:${password}@h:99999/db` } },
    { name: 'NEON_DB_URL with an unsupported scheme', env: { NEON_DB_URL: `https://user:${password}@ep-x.neon.tech/db` } },
    { name: 'a short production secret', env: { NODE_ENV: 'production', DATABASE_URL: 'memory://', BETTER_AUTH_SECRET: secret } },
    { name: 'a CORS_ORIGINS entry with credentials', env: { CORS_ORIGINS: `https://user:${password}@app.example.com` } },
  ]
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const error = t.throws(() => loadConfig(c.env)) as ConfigError
      t.equal(error.problems.length, 1, 'the problem is reported')
      t.notMatch(error.message, password, 'the password is not in the message')
    })
  }
})

t.test('databaseTarget', async (t) => {
  const neon = 'postgresql://app:pw@ep-cool-darkness-123456.us-east-2.aws.neon.tech/neondb?sslmode=require'
  const local = 'postgres://app:pw@localhost:5432/tasks'
  const cases: { name: string; env: Pick<Config, 'DATABASE_URL' | 'NEON_DB_URL'>; target: unknown }[] = [
    { name: 'unset: embedded PGlite on disk', env: {}, target: { driver: 'pglite', dataDir: './.data/pglite' } },
    { name: 'memory://: in-memory PGlite', env: { DATABASE_URL: 'memory://' }, target: { driver: 'pglite', dataDir: undefined } },
    { name: 'a host under neon.tech: Neon HTTP', env: { DATABASE_URL: neon }, target: { driver: 'neon-http', url: neon } },
    { name: 'neon.tech itself: Neon HTTP', env: { DATABASE_URL: 'postgres://a:b@neon.tech/db' }, target: { driver: 'neon-http', url: 'postgres://a:b@neon.tech/db' } },
    { name: 'postgres://: node-postgres', env: { DATABASE_URL: local }, target: { driver: 'node-postgres', url: local } },
    { name: 'postgresql://: node-postgres', env: { DATABASE_URL: 'postgresql://a:b@db.internal/t' }, target: { driver: 'node-postgres', url: 'postgresql://a:b@db.internal/t' } },
    { name: 'neon.tech only as a prefix: not Neon', env: { DATABASE_URL: 'postgres://a:b@neon.tech.evil.example/db' }, target: { driver: 'node-postgres', url: 'postgres://a:b@neon.tech.evil.example/db' } },
    { name: 'a name ending in neon.tech without a dot: not Neon', env: { DATABASE_URL: 'postgres://a:b@notneon.tech/db' }, target: { driver: 'node-postgres', url: 'postgres://a:b@notneon.tech/db' } },
    { name: 'NEON_DB_URL when DATABASE_URL is unset', env: { NEON_DB_URL: neon }, target: { driver: 'neon-http', url: neon } },
    { name: 'NEON_DB_URL memory://', env: { NEON_DB_URL: 'memory://' }, target: { driver: 'pglite', dataDir: undefined } },
    { name: 'pglite:// with a relative folder', env: { DATABASE_URL: 'pglite://./data/tasks' }, target: { driver: 'pglite', dataDir: './data/tasks' } },
    { name: 'pglite:// with a bare relative folder', env: { DATABASE_URL: 'pglite://tasks-db' }, target: { driver: 'pglite', dataDir: 'tasks-db' } },
    { name: 'pglite:// with an absolute folder', env: { DATABASE_URL: 'pglite:///var/lib/tasks api' }, target: { driver: 'pglite', dataDir: '/var/lib/tasks api' } },
    { name: 'PGLITE:// in capitals', env: { DATABASE_URL: 'PGLITE://./db' }, target: { driver: 'pglite', dataDir: './db' } },
    { name: 'DATABASE_URL wins when both are set', env: { DATABASE_URL: local, NEON_DB_URL: neon }, target: { driver: 'node-postgres', url: local } },
  ]
  for (const c of cases) t.same(databaseTarget(c.env), c.target, c.name)
  t.equal(DEFAULT_PGLITE_DIR, './.data/pglite')

  t.throws(() => databaseTarget({ DATABASE_URL: 'not a url' }), /^DATABASE_URL: not a valid URL/)
  t.throws(() => databaseTarget({ NEON_DB_URL: 'mysql://x/y' }), /^NEON_DB_URL: unsupported scheme/)
  t.throws(() => databaseTarget({ DATABASE_URL: 'pglite://' }), /^DATABASE_URL: pglite:\/\/ needs a folder/)
  t.same(databaseTarget(loadConfig({ NEON_DB_URL: neon })), { driver: 'neon-http', url: neon }, 'from a loaded configuration')
})

t.test('CORS_ORIGINS splits on commas, trims, and drops empty entries', async (t) => {
  t.same(settingsOf(loadConfig({})).corsOrigins, ['http://localhost:3000'])
  const config = loadConfig({ CORS_ORIGINS: ' https://app.example.com , http://localhost:5173,, ' })
  t.same(settingsOf(config).corsOrigins, ['https://app.example.com', 'http://localhost:5173'])
})

t.test('loadConfigFromProcess reads ./.env, and real environment variables win over it', async (t) => {
  const dir = t.testdir({ '.env': 'PORT=9100\nLOG_LEVEL=warn\nHOST=0.0.0.0\n' })
  const saved = { cwd: process.cwd(), env: { ...process.env } }
  t.teardown(() => {
    process.chdir(saved.cwd)
    process.env = saved.env
  })
  process.chdir(dir)
  for (const name of ['PORT', 'LOG_LEVEL', 'HOST']) delete process.env[name]
  process.env.LOG_LEVEL = 'error'
  const config = loadConfigFromProcess()
  t.equal(config.PORT, 9100, 'from .env')
  t.equal(config.HOST, '0.0.0.0', 'from .env')
  t.equal(config.LOG_LEVEL, 'error', 'the real environment wins')
})
