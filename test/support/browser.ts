import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import type { Test } from 'tap'

/** Debian's Chromium. Nothing here ever downloads a browser: CI installs this package (see .ci/run). */
export const CHROMIUM = '/usr/bin/chromium'

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

/**
 * Headless Chromium with a fresh, empty profile, closed and its profile removed when `t` ends. A missing
 * browser is an error, never a skip: a browser test that silently does not run proves nothing.
 */
export async function launchChromium (t: Test): Promise<BrowserContext> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: the browser tests need Debian's chromium (apt-get install chromium), which .ci/run installs`)
  }
  const profile = await mkdtemp(join(tmpdir(), 'tasks-browser-test-'))
  let context: BrowserContext
  try {
    // launch() refuses --user-data-dir; a persistent context takes the (empty) profile directory instead.
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
  } catch (error) {
    await rm(profile, { recursive: true, force: true })
    throw error
  }
  t.teardown(async () => {
    await context.close()
    await rm(profile, { recursive: true, force: true })
  })
  return context
}

export interface PageServer {
  port: number
  /** `http://localhost:<port>`, the origin its page runs on in the browser. */
  origin: string
}

/** A tiny web server on a loopback port that serves one empty HTML page at every path: a stand-in frontend. */
export async function servePage (t: Test): Promise<PageServer> {
  const server: Server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    response.end('<!doctype html><html><head><meta charset="utf-8"><title>frontend</title></head><body></body></html>')
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  const { port } = server.address() as AddressInfo
  return { port, origin: `http://localhost:${port}` }
}

/** What a page sees of a page-side `fetch`, plus the headers that actually came over the wire. */
export type PageFetchResult =
  | {
    ok: true
    status: number
    /** `response.headers.get(name)` in the page, for each name asked for: null when the page may not read it. */
    headers: Record<string, string | null>
    /** Every header name the page can read. */
    readable: string[]
    body: unknown
    /** All response headers as the browser received them, before CORS hid any (lower-case names). */
    wire: Record<string, string>
  }
  | { ok: false; name: string; message: string }

export interface PageFetchRequest {
  url: string
  method?: string
  headers?: Record<string, string>
  body?: string
}

/**
 * Runs `fetch(url, { credentials: 'include', … })` inside `page`, as a frontend would, and reports what the
 * page's script could see: the status, the named response headers, the parsed JSON body, or the error the
 * promise rejected with.
 */
export async function fetchFromPage (page: Page, request: PageFetchRequest, headerNames: string[]): Promise<PageFetchResult> {
  const url = new URL(request.url).href
  const method = request.method ?? 'GET'
  // Watched from outside the page, at the network level, to compare with what the page's script may read.
  // A blocked request never gets a response: the watch then ends with the page, and is not awaited.
  const response = page.waitForResponse((candidate) => candidate.url() === url && candidate.request().method() === method, { timeout: 0 })
  response.catch(() => undefined)
  const seen = await page.evaluate(
    // Runs in the browser: no named inner functions (a transpiler's helpers for them do not exist there).
    async ({ url, method, headers, body, headerNames }) => {
      try {
        const response = await fetch(url, { method, headers, body, credentials: 'include' })
        const text = await response.text()
        return {
          ok: true as const,
          status: response.status,
          headers: Object.fromEntries(headerNames.map((name) => [name, response.headers.get(name)])),
          readable: [...response.headers.keys()],
          body: text === '' ? null : (JSON.parse(text) as unknown),
        }
      } catch (error) {
        return { ok: false as const, name: (error as Error).name, message: (error as Error).message }
      }
    },
    { url, method, headers: request.headers ?? {}, body: request.body, headerNames }
  )
  if (!seen.ok) return seen
  return { ...seen, wire: await (await response).allHeaders() }
}

export interface PageProblems {
  /** Uncaught exceptions in the page. */
  errors: string[]
  /** Console messages of type error, including the browser's own (blocked requests, CSP violations). */
  consoleErrors: string[]
}

/** Collects a page's uncaught exceptions and console errors from now on. */
export function watchProblems (page: Page): PageProblems {
  const problems: PageProblems = { errors: [], consoleErrors: [] }
  page.on('pageerror', (error) => problems.errors.push(`${error.name}: ${error.message}`))
  page.on('console', (message) => {
    if (message.type() === 'error') problems.consoleErrors.push(message.text())
  })
  return problems
}
