import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createServer, type AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
/** The API as production runs it (`npm start`): compiled; run.ts builds dist/ first when it is stale. */
export const API_SCRIPT = fileURLToPath(new URL('../../dist/server.js', import.meta.url))
export const CEILING_SCRIPT = fileURLToPath(new URL('./ceiling.ts', import.meta.url))
/** `--import tsx` resolves from the cwd; the PGlite API runs in a temporary folder, so hand node the loader's URL. */
const TSX_LOADER = import.meta.resolve('tsx')

const START_TIMEOUT_MS = 60_000
/** Keeps the end of each process's output, for the error message when it dies. */
const OUTPUT_KEPT = 20_000

export interface Service {
  name: string
  url: string
  child: ChildProcess
  /** The end of its stdout and stderr. */
  output(): string
  stop(): Promise<void>
}

/**
 * `node [nodeArgs] <script>`, with `--import tsx` for a .ts script, with only PATH and TMPDIR from the bench's own
 * environment plus `env`, on a free port; resolves once GET /health answers 200.
 */
export async function startService (
  name: string,
  script: string,
  options: { cwd?: string; env: Record<string, string | undefined>; nodeArgs?: string[] }
): Promise<Service> {
  const port = await freePort()
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, PORT: String(port) }
  if (process.env.TMPDIR !== undefined) env.TMPDIR = process.env.TMPDIR
  for (const [key, value] of Object.entries(options.env)) if (value !== undefined) env[key] = value
  const loader = script.endsWith('.ts') ? ['--import', TSX_LOADER] : []
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), ...loader, script], { cwd: options.cwd ?? ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const keep = (chunk: string) => {
    output = (output + chunk).slice(-OUTPUT_KEPT)
  }
  child.stdout!.setEncoding('utf8').on('data', keep)
  child.stderr!.setEncoding('utf8').on('data', keep)
  const exited = once(child, 'exit')
  const url = `http://127.0.0.1:${port}`
  const service: Service = {
    name,
    url,
    child,
    output: () => output,
    async stop () {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
      await exited
      clearTimeout(timer)
    },
  }
  const deadline = Date.now() + START_TIMEOUT_MS
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited before it was ready:\n${output}`)
    try {
      const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) })
      if (response.status === 200) return service
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await service.stop()
      throw new Error(`${name} did not answer GET /health within ${START_TIMEOUT_MS} ms:\n${output}`)
    }
    await sleep(100)
  }
}

async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}
