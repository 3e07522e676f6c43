import closeWithGrace from 'close-with-grace'
import Fastify from 'fastify'
import app, { serverOptions } from './app.js'
import { withDevSecret } from './auth/dev-secret.js'
import { mintToken } from './auth/token.js'
import { ConfigError, loadConfigFromProcess, type Config } from './config.js'

/** In-flight requests get this long after SIGTERM/SIGINT; then the process exits non-zero with a log line. */
const SHUTDOWN_GRACE_MS = 10_000

/** The one place that listens: logging, signals and start-up failures live here, the application in app.ts. */
async function start(): Promise<void> {
  const config = await configuration()
  const server = Fastify({ ...serverOptions, logger: { level: config.LOG_LEVEL } })
  server.register(app, { config })

  closeWithGrace({ delay: SHUTDOWN_GRACE_MS, logger: server.log }, async ({ signal, err }) => {
    if (err) server.log.error({ err }, 'stopping after an unexpected error')
    else server.log.info({ signal }, 'stopping: finishing in-flight requests')
    await server.close()
  })

  let origin: string
  try {
    origin = await server.listen({ host: config.HOST, port: config.PORT })
  } catch (error) {
    exit(`Cannot start: ${(error as Error).message}`)
  }

  server.log.info(`API docs: ${origin}/docs`)
  if (config.NODE_ENV !== 'production') {
    server.log.info(`Development token for user "dev-user": ${mintToken(config, 'dev-user')}`)
  }
}

async function configuration(): Promise<Config> {
  try {
    const config = loadConfigFromProcess()
    return config.NODE_ENV === 'production' ? config : await withDevSecret(config)
  } catch (error) {
    if (error instanceof ConfigError) exit(...error.problems.map((problem) => `Configuration error: ${problem}`))
    throw error
  }
}

function exit(...lines: string[]): never {
  for (const line of lines) console.error(line)
  process.exit(1)
}

await start()
