import { mkdir } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { bearer, buildApp, json, listen, tokenFor, type TaskJson } from './support/app.js'
import { fetchFromPage, launchChromium, servePage, watchProblems, type PageFetchResult } from './support/browser.js'

// Real Chromium against the API over loopback HTTP: what Swagger UI and a frontend on another origin see.
// Screenshots go to test/artifacts/ (git-ignored) for a human to look at when something breaks.
const ARTIFACTS = fileURLToPath(new URL('artifacts/', import.meta.url))
/** The headers the API exposes to browsers on its CORS origins. */
const EXPOSED = ['link', 'x-total-count', 'etag', 'location', 'x-request-id', 'retry-after', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset']
/** Requests per user and minute: enough for every test here but the one that spends it on purpose. */
const RATE_LIMIT_MAX = 50
const REQUEST_ID = /^[0-9a-f-]{36}$/

const frontend = await servePage(t)
const otherPort = await servePage(t)
// Side by side, as both take a moment. Without a browser the file fails, saying which package to install.
const [browser, app] = await Promise.all([
  launchChromium(t),
  buildApp(t, { CORS_ORIGINS: frontend.origin, RATE_LIMIT_MAX: String(RATE_LIMIT_MAX) }),
])
const api = await listen(app)

async function createTasks (user: string, titles: string[]): Promise<TaskJson[]> {
  const tasks: TaskJson[] = []
  for (const title of titles) {
    const response = await app.inject({ method: 'POST', url: '/api/tasks', headers: bearer(user), payload: { title } })
    if (response.statusCode !== 201) throw new Error(`creating "${title}": ${response.statusCode} ${response.body}`)
    tasks.push(json<TaskJson>(response))
  }
  return tasks
}

/** The user's X-Total-Count, straight from the API. */
async function taskCount (user: string): Promise<string | undefined> {
  const response = await app.inject({ url: '/api/tasks?limit=1', headers: bearer(user) })
  return response.headers['x-total-count'] as string | undefined
}

async function newPage (t: Test) {
  const page = await browser.newPage()
  // A missing element fails in seconds, well inside tap's timeout, with Playwright's call log.
  page.setDefaultTimeout(10_000)
  t.teardown(() => page.close())
  return page
}

function succeeded (t: Test, result: PageFetchResult, what: string): Extract<PageFetchResult, { ok: true }> {
  if (!result.ok) throw new Error(`${what}: the page's fetch failed: ${result.name}: ${result.message}`)
  // Exactly what the server sent, readable from the page's script: nothing hidden, nothing altered.
  for (const name of EXPOSED) t.equal(result.headers[name], result.wire[name] ?? null, `${what}: ${name} as sent`)
  return result
}

t.test('Swagger UI lists the authorized user’s tasks', async (t) => {
  const user = 'docs-user'
  const token = tokenFor(user)
  const titles = ['Water the plants', 'Buy oat milk', 'File the taxes']
  await createTasks(user, titles)
  await createTasks('someone-else', ['Not yours'])

  const page = await newPage(t)
  const problems = watchProblems(page)
  try {
    await page.goto(`${api}/docs`)
    // Collapsed on open: the tags are listed, no operation is shown until its tag is opened.
    const tag = page.locator('#operations-tag-tasks')
    await tag.waitFor()
    t.equal(await page.locator('.opblock-tag-section.is-open').count(), 0, 'every tag is collapsed on open')
    t.equal(await page.locator('.opblock').count(), 0, 'no operation is shown on open')

    await page.locator('.auth-wrapper .btn.authorize').click()
    const dialog = page.locator('.dialog-ux .modal-ux')
    const help = await dialog.locator('.auth-container').first().innerText()
    t.match(help, /npm run token -- <user-id>/, 'the Authorize dialog names `npm run token`')
    t.match(help, /Development token for user "dev-user"/, '…the development token printed at startup')
    t.match(help, /GET \/api\/auth\/token/, "…and Better Auth's token endpoint")
    await dialog.locator('input#auth-bearer-value').fill(token)
    await dialog.locator('.auth-btn-wrapper button[type=submit]').click()
    await dialog.locator('.auth-btn-wrapper button', { hasText: 'Logout' }).waitFor()
    t.match(await dialog.locator('.auth-container').innerText(), /Authorized/, 'the dialog shows the token as authorized')
    await dialog.locator('.auth-btn-wrapper .btn-done').click()
    await dialog.waitFor({ state: 'detached' })

    await tag.click()
    const operation = page.locator('#operations-tasks-listTasks')
    await operation.waitFor()
    t.notOk(await operation.locator('.opblock-body').isVisible(), 'the operation opens collapsed')
    await operation.locator('.opblock-summary-control').click()
    await operation.locator('.try-out__btn').click()
    await operation.locator('.execute').click()
    const response = operation.locator('.live-responses-table tbody .response')
    await response.waitFor()

    t.equal((await response.locator('.response-col_status').innerText()).trim(), '200', 'response code 200')
    t.match(await operation.locator('.curl-command').innerText(), `Authorization: Bearer ${token}`, 'the request carried the bearer token')
    const body = JSON.parse(await response.locator('.response-col_description .highlight-code code').innerText()) as TaskJson[]
    t.same(body.map((task) => task.title).sort(), [...titles].sort(), "the response body holds the user's tasks, and only theirs")
    t.match(await response.locator('.response-col_description').innerText(), /x-total-count: 3/, 'the response headers are shown')
  } finally {
    // Also when a step failed: the picture and the page's errors usually tell why.
    await mkdir(ARTIFACTS, { recursive: true })
    await page.screenshot({ path: `${ARTIFACTS}docs.png`, fullPage: true })
    t.same(problems.errors, [], 'no uncaught errors in Swagger UI')
    // A Content Security Policy on /docs must leave Swagger UI's scripts, styles and requests working.
    t.same(problems.consoleErrors.filter((message) => /Content Security Policy/i.test(message)), [], 'no Content Security Policy violations')
  }
})

t.test('a frontend on an allowed origin calls the API with credentials and reads the exposed headers', async (t) => {
  const user = 'cors-user'
  const token = tokenFor(user)
  const authorization = { authorization: `Bearer ${token}` }
  const [oldest, newest] = await createTasks(user, ['First', 'Second'])

  const page = await newPage(t)
  await page.goto(`${frontend.origin}/`)

  // The first page of two: X-Total-Count counts both, and Link points at the second.
  const list = succeeded(
    t,
    await fetchFromPage(page, { url: `${api}/api/tasks?limit=1`, headers: { ...authorization, 'x-request-id': 'from-the-frontend' } }, EXPOSED),
    'GET /api/tasks'
  )
  t.equal(list.status, 200, 'listed')
  t.same((list.body as TaskJson[]).map((task) => task.id), [newest!.id], 'the newest task first')
  t.equal(list.headers['x-total-count'], '2', 'X-Total-Count')
  t.match(list.headers.link, /^<\/api\/tasks\?limit=1&cursor=[^>]+>; rel="next"$/, 'Link to the next page')
  // Cursors are sealed with a fresh IV each time, so the page's Link is checked by following it.
  const next = await fetch(`${api}${/^<([^>]+)>/.exec(list.headers.link ?? '')?.[1]}`, { headers: authorization })
  t.same(((await next.json()) as TaskJson[]).map((task) => task.id), [oldest!.id], 'the Link the page read leads to the second page')
  t.equal(list.headers['x-request-id'], 'from-the-frontend', "X-Request-Id echoes the page's own id")
  t.match(list.headers['ratelimit-remaining'], /^\d+$/, 'RateLimit-Remaining, to pace itself by')
  t.equal(list.wire['access-control-allow-origin'], frontend.origin, 'allowed for exactly this origin')
  t.equal(list.wire['access-control-allow-credentials'], 'true', 'with credentials')
  t.ok(list.wire.vary, 'the response carries Vary…')
  t.notOk(list.readable.includes('vary'), '…which the page may not read: the call really was cross-origin')

  // A JSON body with Authorization: a preflighted request.
  const created = succeeded(
    t,
    await fetchFromPage(
      page,
      { url: `${api}/api/tasks`, method: 'POST', headers: { ...authorization, 'content-type': 'application/json' }, body: JSON.stringify({ title: 'From the browser' }) },
      EXPOSED
    ),
    'POST /api/tasks'
  )
  t.equal(created.status, 201, 'created')
  const task = created.body as TaskJson
  t.match(task, { title: 'From the browser', user_id: user }, 'the created task')
  t.equal(created.headers.location, `/api/tasks/${task.id}`, 'Location of the created task')
  t.match(created.headers['x-request-id'], REQUEST_ID, 'X-Request-Id')
  // ETag: when the API sends one, the page can read it, and it is the created task's current ETag.
  const current = await app.inject({ url: `/api/tasks/${task.id}`, headers: authorization })
  t.equal(created.headers.etag, current.headers.etag ?? null, 'ETag of the created task')

  const one = succeeded(t, await fetchFromPage(page, { url: new URL(created.headers.location!, api).href, headers: authorization }, EXPOSED), 'GET /api/tasks/{id}')
  t.equal(one.status, 200, 'read back')
  t.same(one.body, task, 'the task as created')
  // ETag: the page reads the same ETag a direct request for the same task gets.
  t.equal(one.headers.etag, current.headers.etag ?? null, 'ETag of one task')
  t.match(one.headers['x-request-id'], REQUEST_ID, 'X-Request-Id')

  t.equal(await taskCount(user), '3', 'the task was created')
})

t.test('a page on an origin outside CORS_ORIGINS is refused by the browser', async (t) => {
  const user = 'foreign-target'
  const authorization = { authorization: `Bearer ${tokenFor(user)}` }
  await createTasks(user, ['Private', 'Also private'])

  // Another port, and the allowed frontend's own port under another host name: both are other origins.
  for (const origin of [otherPort.origin, `http://127.0.0.1:${frontend.port}`]) {
    await t.test(origin, async (t) => {
      const page = await newPage(t)
      const problems = watchProblems(page)
      await page.goto(`${origin}/`)

      const list = await fetchFromPage(page, { url: `${api}/api/tasks?limit=1`, headers: authorization }, EXPOSED)
      t.match(list, { ok: false, name: 'TypeError', message: 'Failed to fetch' }, 'listing rejects with a TypeError')

      const create = await fetchFromPage(
        page,
        { url: `${api}/api/tasks`, method: 'POST', headers: { ...authorization, 'content-type': 'application/json' }, body: JSON.stringify({ title: 'Injected' }) },
        EXPOSED
      )
      t.match(create, { ok: false, name: 'TypeError', message: 'Failed to fetch' }, 'creating rejects with a TypeError')

      t.equal(problems.consoleErrors.filter((message) => message.includes(`from origin '${origin}' has been blocked by CORS policy`)).length, 2, 'blocked by CORS, not by the network')
      t.equal(await taskCount(user), '2', 'the preflight failed, so the POST never ran')
    })
  }
})

t.test('a frontend that sends Content-Type: application/json on every call can delete', async (t) => {
  const user = 'deleting-user'
  const authorization = { authorization: `Bearer ${tokenFor(user)}` }
  // What a fetch wrapper (Better Auth's Next.js examples among them) sends on every call, DELETE included.
  const headers = { ...authorization, 'content-type': 'application/json' }
  const [first, second, done] = await createTasks(user, ['First', 'Second', 'Done'])
  await app.inject({ method: 'PATCH', url: `/api/tasks/${done!.id}/complete`, headers: bearer(user) })

  const page = await newPage(t)
  await page.goto(`${frontend.origin}/`)
  for (const [what, url, status] of [
    ['DELETE /api/tasks/{id}', `${api}/api/tasks/${first!.id}`, 204],
    ['DELETE /api/{user_id}/tasks/{id}', `${api}/api/${user}/tasks/${second!.id}`, 204],
    ['DELETE /api/tasks?status=completed', `${api}/api/tasks?status=completed`, 200],
  ] as const) {
    const deleted = succeeded(t, await fetchFromPage(page, { url, method: 'DELETE', headers }, EXPOSED), what)
    t.equal(deleted.status, status, `${what}: ${status}`)
  }
  t.equal(await taskCount(user), '0', 'every task is gone')
})

t.test('a frontend reads Retry-After when its rate limit is spent', async (t) => {
  const user = 'hasty-user'
  const authorization = { authorization: `Bearer ${tokenFor(user)}` }
  for (let spent = 0; spent < RATE_LIMIT_MAX; spent++) await app.inject({ url: '/api/tasks', headers: authorization })

  const page = await newPage(t)
  await page.goto(`${frontend.origin}/`)
  const limited = succeeded(t, await fetchFromPage(page, { url: `${api}/api/tasks`, headers: authorization }, EXPOSED), 'GET /api/tasks')
  t.equal(limited.status, 429, 'rate limited')
  t.match(limited.headers['retry-after'], /^\d+$/, 'Retry-After says how long to wait')
  t.equal(limited.headers['ratelimit-remaining'], '0', 'RateLimit-Remaining: 0')
})
