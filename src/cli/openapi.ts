import { writeFile } from 'node:fs/promises'
import Fastify from 'fastify'
import app, { serverOptions } from '../app.js'
import { loadConfig } from '../config.js'

/**
 * `npm run openapi [-- <file>]`: writes the OpenAPI document the server serves at /docs/json to ./openapi.json
 * (or <file>), so contract changes show up in review. Built from the default configuration on an in-memory database, never from `.env`:
 * the committed file must not depend on who ran the command.
 */
const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: 'memory://', BETTER_AUTH_SECRET: 'openapi-document-only', LOG_LEVEL: 'silent' })
const server = Fastify({ ...serverOptions, logger: false })
await server.register(app, { config })
await server.ready()
const [output = 'openapi.json'] = process.argv.slice(2)
await writeFile(output, `${JSON.stringify(server.swagger(), null, 2)}\n`)
await server.close()
