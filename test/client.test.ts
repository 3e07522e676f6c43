import { execFile } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { performance } from 'node:perf_hooks'
import { fileURLToPath, pathToFileURL } from 'node:url'
import t from 'tap'
import openapiTS, { astToString, COMMENT_HEADER, type OpenAPI3 } from 'openapi-typescript'
import type { FlowModule } from './client/result.js'
import { buildApp, listen, tokenFor } from './support/app.js'

/**
 * A TypeScript client generated from the document the server serves works against that server:
 * /docs/json → openapi-typescript → test/client/generated/tasks-api.d.ts (git-ignored) → `tsc` over
 * test/client/flow.ts, an openapi-fetch client written against those types → the flow, run over loopback HTTP.
 *
 * test/tsconfig.json excludes test/client (the generated file does not exist before this test writes it), and
 * this file loads the flow by a computed URL so that `npm run typecheck` never follows an import into it.
 */

const CLIENT_DIR = new URL('./client/', import.meta.url)
const GENERATED = new URL('./generated/tasks-api.d.ts', CLIENT_DIR)
const TSCONFIG = fileURLToPath(new URL('./tsconfig.json', CLIENT_DIR))
const FLOW = pathToFileURL(fileURLToPath(new URL('./flow.ts', CLIENT_DIR))).href
const ROOT = fileURLToPath(new URL('../', import.meta.url))
const TSC = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url))

/** Runs tsc; resolves with its exit code and everything it printed. */
function typeCheck (): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [TSC, '--noEmit', '--pretty', 'false', '-p', TSCONFIG], { cwd: ROOT }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1
      resolve({ code, output: `${stdout}${stderr}`.trim() })
    })
  })
}

const ALICE = 'client-alice'
const BOB = 'client-bob'
const PROBLEM = /^application\/problem\+json/
const STRONG_ETAG = /^"[^"]*"$/

t.test('a client generated from /docs/json type-checks and works against the server', async (t) => {
  const timings: Record<string, number> = {}
  const timed = async <T>(step: string, run: () => Promise<T>): Promise<T> => {
    const started = performance.now()
    try {
      return await run()
    } finally {
      timings[step] = Math.round(performance.now() - started)
    }
  }

  const baseUrl = await timed('build and listen', async () => listen(await buildApp(t)))

  const document = await timed('fetch /docs/json', async () => {
    const response = await fetch(`${baseUrl}/docs/json`)
    t.equal(response.status, 200, 'the document is served')
    return (await response.json()) as OpenAPI3
  })
  t.match(document, { openapi: /^3\.1\./ })

  await timed('generate types', async () => {
    const source = COMMENT_HEADER + astToString(await openapiTS(document, { silent: true }))
    await mkdir(new URL('./', GENERATED), { recursive: true })
    await writeFile(GENERATED, source)
  })

  const checked = await timed('tsc', typeCheck)
  if (checked.code !== 0) {
    t.fail(`test/client/flow.ts does not type-check against the generated client types:\n${checked.output}`)
    return
  }
  t.pass('test/client/flow.ts type-checks against the types generated from /docs/json')

  const { runFlow } = (await import(FLOW)) as FlowModule
  const result = await timed('flow', () =>
    runFlow({ baseUrl, user: { id: ALICE, token: tokenFor(ALICE) }, otherUser: { id: BOB, token: tokenFor(BOB) } })
  )

  t.test('create: 201 with a Location header, tags normalized', async (t) => {
    t.same(
      result.created.map(({ title, priority, tags }) => ({ title, priority, tags })),
      [
        { title: 'Alpha report', priority: 'high', tags: ['client', 'work'] },
        { title: 'Bravo call', priority: 'medium', tags: ['client'] },
        { title: 'Charlie email', priority: 'high', tags: ['client'] },
        { title: 'Delta invoice', priority: 'low', tags: ['client'] },
        { title: 'Echo review', priority: 'high', tags: ['other'] },
        { title: 'Foxtrot plan', priority: 'medium', tags: ['client', 'work'] },
        { title: 'Golf sync', priority: 'high', tags: ['client'] },
      ]
    )
    for (const { id, location } of result.created) t.equal(location, `/api/tasks/${id}`, 'Location is the canonical URL')
  })

  t.test('list: filters, X-Total-Count, and Link rel="next" followed to the end', async (t) => {
    const { pages } = result.listing
    t.same(
      pages.map((page) => page.titles),
      [['Alpha report', 'Bravo call'], ['Charlie email', 'Foxtrot plan'], ['Golf sync']],
      'high or medium, tagged client, A→Z, two per page: three pages'
    )
    t.same(
      pages.map((page) => page.totalCount),
      [5, 5, 5],
      'X-Total-Count counts every match on every page'
    )
    t.equal(pages.at(-1)?.next, null, 'the last page has no next link')
    for (const page of pages.slice(0, -1)) {
      t.match(page.next, /^\/api\/tasks\?/, 'the next link keeps the path style')
      const next = new URLSearchParams(page.next?.split('?')[1])
      t.same(next.getAll('tag'), ['client'], 'and the filters')
      t.equal(next.get('sort'), 'title')
      t.equal(next.get('limit'), '2')
      t.ok(next.get('cursor'), 'and adds a cursor')
    }
    t.not(pages[0]?.next, pages[1]?.next, 'each page links to a different cursor')
  })

  t.test('get, update with If-Match, complete, count, delete', async (t) => {
    t.equal(result.fetched.title, 'Bravo call')
    t.match(result.fetched.etag, STRONG_ETAG, 'a strong ETag')
    t.same(result.fetchedThroughUserPath, { id: result.created[1]?.id, user_id: ALICE }, 'the /api/{user_id}/tasks style serves the same task')
    t.same(
      { ...result.updated, etag: undefined },
      { title: 'Bravo call, rescheduled', priority: 'high', description: null, etag: undefined },
      'the write guarded by the current ETag went through'
    )
    t.match(result.updated.etag, STRONG_ETAG)
    t.not(result.updated.etag, result.fetched.etag, 'the update changed the ETag')
    t.same(result.completed, { completed: true, completedAtIsSet: true })
    t.same(result.stats, { total: 7, completed: 1, pending: 6, overdue: 0, by_priority: { low: 1, medium: 1, high: 4 } })
    t.same(result.deleted, { status: 204, getAfterwards: 404 })
  })

  t.test('sync: a replica built from the change feed equals the live list', async (t) => {
    const { sync } = result
    const [alpha, bravo, charlie, delta, ...rest] = result.created
    t.same([sync.deletedId, sync.updatedId], [charlie?.id, delta?.id])
    // One in-process database: every committed write is visible to the next pull, so page sizes are exact.
    t.same(sync.fullPages, [2, 2, 2], 'six live tasks from nothing, two per page: `next` followed while `has_more`')
    t.same(sync.incrementalPages, [2], 'the incremental pull holds only what changed since: the delete and the update')
    t.same(sync.replica, sync.live, 'the replica from the pages holds exactly the live tasks, in their latest state')
    t.same(
      sync.live.map(({ id }) => id).sort(),
      [alpha, delta, ...rest].map((task) => task?.id).sort(),
      'the seed tasks but the two deleted ones'
    )
    t.same(
      sync.tombstoneIds,
      [sync.deletedId],
      'a tombstone for the task deleted between the pulls; none from nothing (Bravo was deleted before the first pull)'
    )
    t.notOk(sync.replica.some(({ id }) => id === bravo?.id || id === sync.deletedId), 'no deleted task in the replica')
    t.ok(sync.incrementalHadUpdate, 'the incremental pull had the updated task')
    t.match(sync.replica.find(({ id }) => id === sync.updatedId), { title: 'Delta invoice, paid' }, 'and the replica took the update')
  })

  t.test('idempotency: a retried create replays the first response; the key reused for another body is refused', async (t) => {
    const { attempts, reusedKey, tasksBefore, tasksAfter } = result.idempotency
    const [first, retry] = attempts
    t.equal(attempts.length, 2)
    t.match(first, { status: 201, replayed: null }, 'the first request ran: no Idempotency-Replayed')
    t.equal(first?.location, `/api/tasks/${first?.id}`, 'Location is the canonical URL')
    t.match(first?.etag, STRONG_ETAG)
    t.match(retry, { status: 201, replayed: 'true' }, 'the retry is a replay: Idempotency-Replayed: true')
    t.equal(retry?.id, first?.id, 'the same task, not a second one')
    t.equal(retry?.location, first?.location, 'the same Location')
    t.equal(retry?.etag, first?.etag, 'the same ETag')
    t.equal(tasksAfter, tasksBefore + 1, 'one task written in all: neither the replay nor the refused reuse wrote')
    t.match(reusedKey, { status: 422, firstPath: '/headers/idempotency-key' }, 'the same key with another body: 422 naming the header')
    t.match(reusedKey.contentType, PROBLEM)
    t.ok(reusedKey.requestIdMatchesHeader, 'request_id matches X-Request-Id')
  })

  t.test('typed problem bodies', async (t) => {
    const { errors } = result
    for (const [name, problem] of Object.entries(errors)) {
      t.match(problem.contentType, PROBLEM, `${name}: application/problem+json`)
      t.ok(problem.requestIdMatchesHeader, `${name}: request_id matches X-Request-Id`)
    }
    t.match(errors.missingToken, { status: 401, title: 'Unauthorized', wwwAuthenticate: 'Bearer' })
    t.match(errors.invalidToken, { status: 401, title: 'Unauthorized', wwwAuthenticate: 'Bearer error="invalid_token"' })
    t.match(errors.otherUsersTask, { status: 403, title: 'Forbidden', detail: /belongs to another user/ })
    t.match(errors.otherUserInPath, { status: 403, title: 'Forbidden', detail: /user id in the path/ })
    t.match(errors.staleEtag, { status: 412, title: 'Precondition Failed', currentEtag: result.updated.etag }, 'a stale If-Match loses')
    t.match(errors.unknownId, { status: 404, title: 'Not Found', detail: /not found/ })
    t.match(errors.emptyTitle, { status: 422, firstPath: '/body/title' })
    t.same(errors.emptyTitle.paths, ['/body/title'], 'only the title is wrong')
    t.match(errors.wrongPriority, { status: 422, firstPath: '/body/priority' }, 'what the types reject, the server rejects')
    t.match(errors.foreignSyncToken, { status: 422, firstPath: '/querystring/since' }, "another user's sync token is refused")
  })

  t.comment(`timings (ms): ${JSON.stringify(timings)}`)
})
