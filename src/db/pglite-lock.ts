import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'

/** The lock file's name inside a PGlite folder. */
export const PGLITE_LOCK_FILE = 'tasks-api.lock'

/** Folders this process holds: opening one again here would also be a second PGlite on the same files. */
const heldHere = new Set<string>()

export class PgliteFolderInUseError extends Error {
  constructor (folder: string, pid: number, lockFile: string) {
    super(
      `the PGlite folder ${folder} is in use by process ${pid}, and only one process may open it: stop that process ` +
        `first, or give this one another folder (if process ${pid} is not a Tasks API server, delete ${lockFile})`
    )
  }
}

/**
 * Takes `dataDir` for this process, or throws PgliteFolderInUseError. PGlite is a single-process database: two
 * processes on one folder each see only their own writes, and acknowledged writes are lost on restart. The
 * scheme is PostgreSQL's postmaster.pid: a lock file holding the holder's pid, created atomically (written under
 * a name of its own, then hard-linked into place, which fails if a lock exists); a lock whose process is gone
 * is removed and taken again. A lock holding our own pid that this process does not hold is stale too: in a
 * container the server often gets the same pid after every restart. Resolves with the release function.
 */
export async function lockPgliteFolder (dataDir: string): Promise<() => Promise<void>> {
  const folder = resolve(dataDir)
  const lockFile = join(folder, PGLITE_LOCK_FILE)
  const draft = `${lockFile}.${process.pid}`
  await mkdir(folder, { recursive: true })
  await writeFile(draft, `${process.pid}\n`)
  try {
    // Each turn either takes the lock, refuses, or removes a stale one: only live contenders can race us.
    while (!(await linked(draft, lockFile))) {
      const holder = await holderOf(lockFile)
      if (holder !== undefined && (holder === process.pid ? heldHere.has(folder) : isAlive(holder))) {
        throw new PgliteFolderInUseError(folder, holder, lockFile)
      }
      await unlink(lockFile).catch(ignoreMissing)
    }
  } finally {
    await unlink(draft)
  }
  heldHere.add(folder)
  return async () => {
    heldHere.delete(folder)
    // Never remove a lock that is no longer ours (deleted by hand, then taken by another process).
    if ((await holderOf(lockFile)) === process.pid) await unlink(lockFile).catch(ignoreMissing)
  }
}

/** Hard-links `from` to `to`: false when `to` exists. */
async function linked (from: string, to: string): Promise<boolean> {
  try {
    await link(from, to)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw error
  }
}

/** The pid a lock file holds; undefined when it is gone or holds no pid (not written by us: treated as stale). */
async function holderOf (lockFile: string): Promise<number | undefined> {
  const text = await readFile(lockFile, 'utf8').catch(ignoreMissing)
  const pid = Number(text?.trim())
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined
}

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: alive, but another user's.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function ignoreMissing (error: unknown): void {
  if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
}
