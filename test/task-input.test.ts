import t from 'tap'
import { bearer, buildApp, json } from './support/app.js'

/** What the server accepts in a task body, and how much work it does before it refuses one. */

t.test('tags: a huge list is refused before it is normalised, at once; the documented de-duplication still works', async (t) => {
  const app = await buildApp(t, { BODY_LIMIT: String(1024 * 1024) })
  const create = (payload: string | Record<string, unknown>) => app.inject({ method: 'POST', url: '/api/tasks', headers: { ...bearer('ann'), 'content-type': 'application/json' }, payload })
  // Distinct tags, about 1 MB of JSON: normalising them with a quadratic de-duplication took 19 s.
  const huge = JSON.stringify({ title: 'huge', tags: Array.from({ length: 110_000 }, (_, index) => `t${index}`) })
  t.ok(huge.length > 900_000 && huge.length < 1024 * 1024, `a body just under the raised limit (${huge.length} bytes)`)
  const started = performance.now()
  const refused = await create(huge)
  const elapsed = performance.now() - started
  t.equal(refused.statusCode, 422)
  t.match(json(refused).errors, [{ path: '/body/tags', message: /at most 100/ }])
  t.ok(elapsed < 1000, `answered well under a second (${Math.round(elapsed)} ms), so the event loop was never held long`)

  const longTag = await create({ title: 'long tag', tags: ['ok', ` ${'a'.repeat(300)} `] })
  t.equal(longTag.statusCode, 422, 'a tag far past the limit is refused before it is trimmed')
  t.match(json(longTag).errors, [{ path: '/body/tags/1', message: /at most 256 characters before trimming/ }])

  // 30 tags as sent, 20 after trimming, lower-casing and dropping duplicates: accepted, in order.
  const twenty = Array.from({ length: 20 }, (_, index) => `tag${index}`)
  const sent = [...twenty, ...twenty.slice(0, 10).map((tag) => ` ${tag.toUpperCase()} `)]
  const accepted = await create({ title: 'thirty as sent', tags: sent })
  t.equal(accepted.statusCode, 201)
  t.same(json(accepted).tags, twenty)
  const padded = await create({ title: 'padded', tags: [`${' '.repeat(100)}Work${' '.repeat(100)}`] })
  t.same(json(padded).tags, ['work'], 'a tag padded within the raw bound is trimmed as before')
  t.equal((await app.inject({ url: '/api/tasks', headers: bearer('ann') })).headers['x-total-count'], '2', 'the refused bodies stored nothing')
})

t.test('description: the input schemas allow what the server accepts, an empty or blank string (stored as null)', async (t) => {
  const app = await buildApp(t)
  const document = json<{
    components: { schemas: Record<string, { properties: Record<string, { minLength?: number; description?: string }> }> }
  }>(
    await app.inject({ url: '/docs/json' })
  )
  const created = await app.inject({ method: 'POST', url: '/api/tasks', headers: bearer('ann'), payload: { title: 'x', description: '' } })
  t.equal(created.statusCode, 201)
  t.equal(json(created).description, null)
  const updated = await app.inject({ method: 'PUT', url: `/api/tasks/${json(created).id}`, headers: bearer('ann'), payload: { description: '   ' } })
  t.equal(updated.statusCode, 200)
  t.equal(json(updated).description, null)
  for (const name of ['TaskCreate', 'TaskUpdate']) {
    const { minLength = 0, description = '' } = document.components.schemas[name]!.properties.description!
    t.equal(minLength, 0, `${name}.description allows ""`)
    t.match(description, /empty/, `${name}.description says what an empty one means`)
  }
  t.equal(document.components.schemas.Task!.properties.description!.minLength, 1, 'a stored description is never empty')
})
