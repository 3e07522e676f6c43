import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/**
 * The entry points the project's npm scripts run, by absolute path: `start` the compiled server (test/support/build.ts
 * keeps dist/ current), `db:migrate`, `token` and `openapi` their TypeScript through tsx.
 */
export const SCRIPTS = {
  server: join(ROOT, 'dist/server.js'),
  migrate: join(ROOT, 'src/cli/migrate.ts'),
  token: join(ROOT, 'src/cli/token.ts'),
  openapi: join(ROOT, 'src/cli/openapi.ts'),
}

/**
 * `--import tsx` resolves the package from the cwd, and a temporary cwd has no node_modules: hand node the
 * loader's absolute URL instead, resolved from this project.
 */
const TSX_LOADER = import.meta.resolve('tsx')

/** How long a server gets to answer GET /health, and a one-shot command to finish. */
const START_TIMEOUT_MS = 20_000
/** The server's shutdown grace is 10 s; give it a little more before calling it hung. */
const STOP_TIMEOUT_MS = 15_000

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface LogLine {
  level?: number
  msg?: string
  reqId?: string
  [key: string]: unknown
}

export interface NodeProcess {
  child: ChildProcess
  stdout(): string
  stderr(): string
  /** Non-empty lines of stderr. */
  stderrLines(): string[]
  /** stdout's JSON lines (pino's log records); anything else is ignored. */
  logs(): LogLine[]
  /** Resolves when the process has exited and its output is fully read. */
  exited: Promise<Exit>
  /** Resolves with the first log record matching `predicate`; rejects on exit or after `timeoutMs`. */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>
}

export interface RunningServer extends NodeProcess {
  port: number
  url: string
  /** Sends SIGTERM and waits for the exit. */
  stop(): Promise<Exit>
}

/** A fresh empty directory to run a process in (its `.env` and `.data/` land there), removed when `t` ends. */
export async function tempDir (t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tasks-server-test-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** A port nobody listens on right now: bind port 0, read what the OS chose, let it go. */
export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/**
 * An explicit environment: PATH (and TMPDIR, where tsx keeps its cache) plus `vars`. Nothing else from the
 * developer's shell, so a DATABASE_URL or a secret set there never leaks into a test, and neither does tap's
 * NODE_OPTIONS.
 */
export function cleanEnv (vars: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH }
  if (process.env.TMPDIR !== undefined) env.TMPDIR = process.env.TMPDIR
  for (const [name, value] of Object.entries(vars)) if (value !== undefined) env[name] = value
  return env
}

export async function withTimeout<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result after ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * `node <script> …args` in `cwd`, with `--import tsx` for a .ts script, the way the npm scripts run it; killed when
 * `t` ends if still alive.
 */
export function startNode (
  t: Test,
  script: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string | undefined> }
): NodeProcess {
  // tap re-adds its NODE_OPTIONS to every child it sees spawned; under them the tsx-loaded sources would be
  // merged into the coverage report as falsely 100% covered. `env -u` drops them, then execs node itself,
  // so signals still reach the server process directly.
  const loader = script.endsWith('.ts') ? ['--import', TSX_LOADER] : []
  const child = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, ...loader, script, ...args], {
    cwd: options.cwd,
    env: cleanEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const exited = new Promise<Exit>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })))
  const running = () => child.exitCode === null && child.signalCode === null
  t.teardown(async () => {
    if (running()) {
      child.kill('SIGKILL')
      await exited
    }
  })

  const logs = (): LogLine[] =>
    stdout.split('\n').flatMap((line) => {
      try {
        const parsed: unknown = JSON.parse(line)
        return typeof parsed === 'object' && parsed !== null ? [parsed as LogLine] : []
      } catch {
        return []
      }
    })

  return {
    child,
    exited,
    stdout: () => stdout,
    stderr: () => stderr,
    stderrLines: () => stderr.split('\n').filter((line) => line.trim() !== ''),
    logs,
    async waitForLog (predicate, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const found = logs().find(predicate)
        if (found !== undefined) return found
        if (!running()) throw new Error(`exited before the expected log line:\n${stdout}\n${stderr}`)
        if (Date.now() > deadline) throw new Error(`no such log line after ${timeoutMs} ms:\n${stdout}`)
        await sleep(50)
      }
    },
  }
}

/** Runs a one-shot command to its end. */
export async function runNode (
  t: Test,
  script: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string | undefined> }
): Promise<Exit & { stdout: string; stderr: string; stderrLines: string[] }> {
  const run = startNode(t, script, args, options)
  const exit = await withTimeout(run.exited, START_TIMEOUT_MS, `${script} ${args.join(' ')}`)
  return { ...exit, stdout: run.stdout(), stderr: run.stderr(), stderrLines: run.stderrLines() }
}

/**
 * Starts dist/server.js on a free port (or env.PORT when given) and waits until GET /health answers 200.
 * Rejects with the server's stderr when it exits first, or after 20 s.
 */
export async function startServer (t: Test, options: { cwd: string; env?: Record<string, string | undefined> }): Promise<RunningServer> {
  const port = options.env?.PORT !== undefined ? Number(options.env.PORT) : await freePort()
  const server = startNode(t, SCRIPTS.server, [], { cwd: options.cwd, env: { ...options.env, PORT: String(port) } })
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + START_TIMEOUT_MS
  for (;;) {
    if (server.child.exitCode !== null || server.child.signalCode !== null) {
      const { code } = await server.exited
      throw new Error(`the server exited with code ${code} before it was ready:\n${server.stderr()}${server.stdout()}`)
    }
    try {
      const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) })
      if (response.status === 200) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      server.child.kill('SIGKILL')
      throw new Error(`the server did not answer GET /health within ${START_TIMEOUT_MS} ms:\n${server.stderr()}${server.stdout()}`)
    }
    await sleep(100)
  }
  return {
    ...server,
    port,
    url,
    stop () {
      server.child.kill('SIGTERM')
      return withTimeout(server.exited, STOP_TIMEOUT_MS, 'the server after SIGTERM')
    },
  }
}
