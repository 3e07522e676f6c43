import t from 'tap'
import { bearer, buildApp, json, type TaskJson } from './support/app.js'
import { forEachDriver } from './support/drivers.js'

/** Optimistic concurrency (contract §4, §8): strong ETags, If-Match on writes, If-None-Match on reads. */
forEachDriver(t, async (t, databaseUrl) => {
  const app = await buildApp(t, { DATABASE_URL: databaseUrl })
  const ann = bearer('ann')
  const create = async (payload: Record<string, unknown> = { title: 'write the report' }) => {
    const response = await app.inject({ method: 'POST', url: '/api/tasks', headers: ann, payload })
    return { task: json<TaskJson>(response), etag: response.headers.etag as string }
  }
  const read = async (id: string) => {
    const response = await app.inject({ url: `/api/tasks/${id}`, headers: ann })
    return { task: json<TaskJson>(response), etag: response.headers.etag as string }
  }
  const count = async () => Number((await app.inject({ url: '/api/tasks', headers: ann })).headers['x-total-count'])

  t.test('a create, a read and every write carry a strong ETag that moves only when the task changes', async (t) => {
    const created = await create()
    t.match(created.etag, /^"[^"]+"$/, 'strong: quoted, no W/')
    t.equal((await read(created.task.id)).etag, created.etag, 'GET gives the ETag the create gave')

    const put = await app.inject({ method: 'PUT', url: `/api/tasks/${created.task.id}`, headers: ann, payload: { title: 'write the report' } })
    t.equal(put.headers.etag, created.etag, 'a PUT that changes nothing keeps the ETag')
    const renamed = await app.inject({ method: 'PUT', url: `/api/tasks/${created.task.id}`, headers: ann, payload: { title: 'send the report' } })
    t.not(renamed.headers.etag, created.etag, 'a real change moves it')

    const url = `/api/tasks/${created.task.id}/complete`
    const completed = await app.inject({ method: 'PATCH', url, headers: ann, payload: { completed: true } })
    t.not(completed.headers.etag, renamed.headers.etag)
    const again = await app.inject({ method: 'PATCH', url, headers: ann, payload: { completed: true } })
    t.equal(again.headers.etag, completed.headers.etag, 'repeating {"completed": true} keeps the ETag')
    const toggled = await app.inject({ method: 'PATCH', url, headers: ann })
    t.not(toggled.headers.etag, completed.headers.etag, 'a toggle always changes the task')
    t.equal((await read(created.task.id)).etag, toggled.headers.etag)
  })

  t.test('If-None-Match on GET: 304 without a body while the ETag matches', async (t) => {
    const { task, etag } = await create()
    for (const header of [etag, `W/${etag}`, '*', `"999999", ${etag}`]) {
      const response = await app.inject({ url: `/api/tasks/${task.id}`, headers: { ...ann, 'if-none-match': header } })
      t.equal(response.statusCode, 304, header)
      t.equal(response.body, '', 'no body')
      t.equal(response.headers.etag, etag)
    }
    const leadingZero = await app.inject({ url: `/api/tasks/${task.id}`, headers: { ...ann, 'if-none-match': etag.replace('"', '"0') } })
    t.equal(leadingZero.statusCode, 200, 'a tag that differs in any character does not match')
    const malformed = await app.inject({ url: `/api/tasks/${task.id}`, headers: { ...ann, 'if-none-match': etag.slice(1, -1) } })
    t.equal(malformed.statusCode, 422, 'an unquoted tag is not an entity tag')
    t.equal(json<{ errors: { path: string }[] }>(malformed).errors[0]?.path, '/headers/if-none-match', 'names the header')
    await app.inject({ method: 'PUT', url: `/api/tasks/${task.id}`, headers: ann, payload: { priority: 'high' } })
    const changed = await app.inject({ url: `/api/tasks/${task.id}`, headers: { ...ann, 'if-none-match': etag } })
    t.equal(changed.statusCode, 200, 'a changed task is sent again')
    t.equal(json<TaskJson>(changed).priority, 'high')
    t.not(changed.headers.etag, etag)
  })

  const writes = [
    { name: 'PUT', method: 'PUT' as const, path: '', payload: { title: 'changed' } },
    { name: 'PATCH complete (set)', method: 'PATCH' as const, path: '/complete', payload: { completed: true } },
    { name: 'PATCH complete (toggle)', method: 'PATCH' as const, path: '/complete' },
    { name: 'DELETE', method: 'DELETE' as const, path: '' },
  ]
  for (const write of writes) {
    t.test(`If-Match on ${write.name}`, async (t) => {
      const { task } = await create()
      const stale = (await read(task.id)).etag
      await app.inject({ method: 'PUT', url: `/api/tasks/${task.id}`, headers: ann, payload: { description: 'moved on' } })
      const current = await read(task.id)
      const url = `/api/tasks/${task.id}${write.path}`

      // Strong comparison is character for character: `"02"` is not `"2"`. Well-formed tags that are not ours match nothing.
      const leadingZero = current.etag.replace('"', '"0')
      for (const header of [stale, `W/${current.etag}`, '"abc"', leadingZero]) {
        const refused = await app.inject({ method: write.method, url, headers: { ...ann, 'if-match': header }, payload: write.payload })
        t.equal(refused.statusCode, 412, `If-Match: ${header}`)
        t.match(refused.headers['content-type'], /^application\/problem\+json/)
        t.match(json(refused), { status: 412, title: 'Precondition Failed', detail: /has changed since you read it/ })
        t.equal(refused.headers.etag, current.etag, 'the 412 says what the ETag is now')
        t.same(await read(task.id), current, 'the stored task is untouched')
      }

      // Not an entity-tag list (RFC 9110 §8.8.3): a 422 naming the header, not a 412 saying the task changed.
      const unquoted = current.etag.slice(1, -1)
      for (const header of [unquoted, 'not-an-etag', `"${unquoted}`, `"${unquoted} "`, `w/${current.etag}`, `${current.etag} ${current.etag}`, '']) {
        const malformed = await app.inject({ method: write.method, url, headers: { ...ann, 'if-match': header }, payload: write.payload })
        t.equal(malformed.statusCode, 422, `If-Match: ${header}`)
        t.equal(json<{ errors: { path: string }[] }>(malformed).errors[0]?.path, '/headers/if-match', 'names the header')
        t.same(await read(task.id), current, 'the stored task is untouched')
      }

      const accepted = await app.inject({ method: write.method, url, headers: { ...ann, 'if-match': `"a,b", , "999999", ${current.etag}` }, payload: write.payload })
      t.equal(accepted.statusCode, write.method === 'DELETE' ? 204 : 200, 'a list holding the current ETag matches')
      if (write.method !== 'DELETE') t.equal(accepted.headers.etag, (await read(task.id)).etag, 'the response carries the new ETag')
    })
  }

  t.test('If-Match: * needs only an existing task', async (t) => {
    const { task } = await create()
    const response = await app.inject({ method: 'PUT', url: `/api/tasks/${task.id}`, headers: { ...ann, 'if-match': '*' }, payload: { title: 'any version' } })
    t.equal(response.statusCode, 200)
  })

  t.test('existence and ownership come before the precondition', async (t) => {
    const { task, etag } = await create()
    const missing = '0193a1e2-0000-7000-8000-000000000000'
    const notFound = await app.inject({ method: 'PUT', url: `/api/tasks/${missing}`, headers: { ...ann, 'if-match': etag }, payload: { title: 'x' } })
    t.equal(notFound.statusCode, 404)
    for (const header of [etag, '"999999"']) {
      const mallory = await app.inject({ method: 'DELETE', url: `/api/tasks/${task.id}`, headers: { ...bearer('mallory'), 'if-match': header } })
      t.equal(mallory.statusCode, 403, "another user's task is a 403 whatever the ETag")
      t.notOk(mallory.headers.etag, 'and its ETag is not revealed')
    }
    t.equal((await read(task.id)).etag, etag)
  })

  t.test('a stale If-Match on a recurring task creates no occurrence', async (t) => {
    const { task, etag } = await create({ title: 'water plants', due_date: '2026-12-01T09:00:00Z', recurrence: 'weekly' })
    await app.inject({ method: 'PUT', url: `/api/tasks/${task.id}`, headers: ann, payload: { priority: 'low' } })
    const before = await count()
    const refused = await app.inject({ method: 'PATCH', url: `/api/tasks/${task.id}/complete`, headers: { ...ann, 'if-match': etag } })
    t.equal(refused.statusCode, 412)
    t.equal(await count(), before, 'no next occurrence')
    const fresh = (await read(task.id)).etag
    const completed = await app.inject({ method: 'PATCH', url: `/api/tasks/${task.id}/complete`, headers: { ...ann, 'if-match': fresh } })
    t.equal(completed.statusCode, 200)
    t.ok(json<TaskJson>(completed).next_task_id, 'with the current ETag it completes and recurs')
    t.equal(await count(), before + 1)
  })

  t.test('lost-update race: of two writers holding the same ETag, exactly one wins', async (t) => {
    for (let round = 0; round < 10; round++) {
      const { task, etag } = await create({ title: `race ${round}` })
      const [first, second] = await Promise.all(
        ['first', 'second'].map((writer) =>
          app.inject({ method: 'PUT', url: `/api/tasks/${task.id}`, headers: { ...ann, 'if-match': etag }, payload: { title: `${writer} wins` } })
        )
      )
      const statuses = [first!.statusCode, second!.statusCode].sort()
      t.same(statuses, [200, 412], `round ${round}`)
      const winner = first!.statusCode === 200 ? 'first' : 'second'
      t.equal((await read(task.id)).task.title, `${winner} wins`, "the winner's write is what is stored")
    }
  })
})
