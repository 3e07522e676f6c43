import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { openDatabase } from '../src/db/database.js'
import { lockPgliteFolder, PGLITE_LOCK_FILE, PgliteFolderInUseError } from '../src/db/pglite-lock.js'

/**
 * One process per PGlite folder, in process and on the real file system: which locks are stale and taken
 * over, which are refused, and what release leaves. test/server.test.ts drives the same through real server
 * and db:migrate processes (a second server refused, a SIGKILLed server's lock recovered).
 */

/** A process that is alive until `t` ends. */
async function liveProcess (t: Test): Promise<number> {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' })
  await once(child, 'spawn')
  t.teardown(() => { child.kill('SIGKILL') })
  return child.pid as number
}

/** The pid of a process that has exited. */
async function deadProcess (): Promise<number> {
  const child = spawn('true', { stdio: 'ignore' })
  await once(child, 'exit')
  return child.pid as number
}

const lockOf = (folder: string) => join(folder, PGLITE_LOCK_FILE)

/** What `opening` was refused with; fails the test when it was not refused because the folder is in use. */
async function refusal (t: Test, opening: Promise<unknown>): Promise<Error> {
  const error = await opening.then(
    () => new Error('not refused'),
    (caught: unknown) => caught as Error
  )
  t.type(error, PgliteFolderInUseError, error.message)
  return error
}

t.test('a folder is taken, refused to a second opening in the same process, and released', async (t) => {
  const folder = join(t.testdir(), 'new', 'pglite')
  const release = await lockPgliteFolder(folder)
  t.equal(await readFile(lockOf(folder), 'utf8'), `${process.pid}\n`, 'the folder is created, and the lock holds our pid')
  // A second PGlite in this process would be a second writer too.
  t.match((await refusal(t, lockPgliteFolder(folder))).message, `is in use by process ${process.pid}`)
  await release()
  t.same(await readdir(folder), [], 'released: no lock, no leftover draft')
  const again = await lockPgliteFolder(folder)
  await again()
})

t.test('openDatabase holds the folder until close', async (t) => {
  const folder = join(t.testdir(), 'pglite')
  const first = await openDatabase({ driver: 'pglite', dataDir: folder }, () => {})
  await refusal(t, openDatabase({ driver: 'pglite', dataDir: folder }, () => {}))
  await first.close()
  t.notOk(existsSync(lockOf(folder)))
  const second = await openDatabase({ driver: 'pglite', dataDir: folder }, () => {})
  await second.close()
})

t.test("another live process's lock is refused, naming the folder, the pid and what to do", async (t) => {
  const folder = t.testdir()
  const pid = await liveProcess(t)
  await writeFile(lockOf(folder), `${pid}\n`)
  const error = await refusal(t, lockPgliteFolder(folder))
  t.match(error.message, `the PGlite folder ${folder} is in use by process ${pid}`)
  t.match(error.message, /stop that process first/)
  t.match(error.message, lockOf(folder), 'names the lock file to delete if that process is not ours')
  t.notMatch(error.message, /\n/, 'one line')
  t.equal(await readFile(lockOf(folder), 'utf8'), `${pid}\n`, 'the lock is left as it was')
})

t.test('stale locks are taken over', async (t) => {
  const stale = {
    'a process that has exited': `${await deadProcess()}\n`,
    // In a container the server often has the same pid after every restart.
    'our own pid, from an earlier life of this pid': `${process.pid}\n`,
    'no pid at all': 'garbage',
  }
  for (const [name, content] of Object.entries(stale)) {
    t.test(name, async (t) => {
      const folder = t.testdir()
      await writeFile(lockOf(folder), content)
      const release = await lockPgliteFolder(folder)
      t.equal(await readFile(lockOf(folder), 'utf8'), `${process.pid}\n`)
      await release()
    })
  }
})

t.test("release never removes a lock that is no longer this process's", async (t) => {
  const folder = t.testdir()
  const release = await lockPgliteFolder(folder)
  const other = await liveProcess(t)
  // Deleted by hand while we ran, then taken by another process.
  await writeFile(lockOf(folder), `${other}\n`)
  await release()
  t.equal(await readFile(lockOf(folder), 'utf8'), `${other}\n`)
})

t.test('a lock deleted by hand: release has nothing to do', async (t) => {
  const folder = t.testdir()
  const release = await lockPgliteFolder(folder)
  await rm(lockOf(folder))
  await release()
  t.same(await readdir(folder), [])
})
