import closeWithGrace from 'close-with-grace'
import Fastify from 'fastify'
import app, { serverOptions } from './app.js'
import { withDevSecret } from './auth/dev-secret.js'
import { mintToken } from './auth/token.js'
import { loggerOptions } from './logging.js'
import { describeStartupError, exitWith, loadConfigOrExit } from './startup.js'

/** In-flight requests get this long after SIGTERM/SIGINT; then the process exits non-zero with a log line. */
const SHUTDOWN_GRACE_MS = 10_000

/**
 * Connections the kernel holds until the server accepts them. Node's default, 511, drops part of a burst of a
 * thousand clients connecting at once (after a deploy, or a load balancer warming up), and each dropped client
 * waits a 1 s SYN retransmit. The kernel caps it at net.core.somaxconn (4096 on current Linux).
 */
const LISTEN_BACKLOG = 4096

/** The one place that listens: logging, signals and start-up failures live here, the application in app.ts. */
async function start (): Promise<void> {
  const config = await withDevSecret(loadConfigOrExit())
  const server = Fastify({ ...serverOptions, logger: loggerOptions(config.LOG_LEVEL) })
  server.register(app, { config })

  // Closing waits for every connection to end, but a keep-alive connection busy when the signal came would stay
  // open, idle, until its keep-alive timeout. So while stopping, each answer closes its connection behind it.
  let stopping = false
  server.addHook('onSend', (_request, reply, payload, done) => {
    if (stopping) reply.header('connection', 'close')
    done(null, payload)
  })
  server.addHook('onResponse', (_request, _reply, done) => {
    if (stopping) server.server.closeIdleConnections()
    done()
  })

  closeWithGrace({ delay: SHUTDOWN_GRACE_MS, logger: server.log }, async ({ signal, err }) => {
    if (err) server.log.error({ err }, 'stopping after an unexpected error')
    else server.log.info({ signal }, 'stopping: finishing in-flight requests')
    stopping = true
    await server.close()
  })

  let origin: string
  try {
    origin = await server.listen({ host: config.HOST, port: config.PORT, backlog: LISTEN_BACKLOG })
  } catch (error) {
    exitWith(`Cannot start: ${describeStartupError(error)}`)
  }

  server.log.info(`API docs: ${origin}/docs`)
  if (config.NODE_ENV !== 'production') {
    server.log.info(`Development token for user "dev-user": ${mintToken(config, 'dev-user')}`)
  }
}

await start()
