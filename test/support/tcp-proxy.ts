import { connect, createServer, type AddressInfo, type Socket } from 'node:net'

export interface TcpProxy {
  port: number
  /** Drops every connection and stops listening: to its clients the database has gone away. */
  cut(): Promise<void>
  /** Keeps connections open but forwards nothing: to its clients the database hangs. */
  stall(): void
  /** Listens again on the same port: the database is back. */
  restore(): Promise<void>
}

/** A loopback TCP proxy in front of a real server, so a test can take the database away and bring it back. */
export async function startTcpProxy (targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const sockets = new Set<Socket>()
  let stalled = false
  const forward = (from: Socket, to: Socket) => from.on('data', (chunk) => stalled || to.write(chunk))
  const server = createServer((client) => {
    const upstream = connect(targetPort, targetHost)
    forward(client, upstream)
    forward(upstream, client)
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      socket.on('error', () => {
        client.destroy()
        upstream.destroy()
      })
    }
  })
  const listen = (port: number) => new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  await listen(0)
  const port = (server.address() as AddressInfo).port
  return {
    port,
    async cut () {
      if (!server.listening) return
      const closed = new Promise((resolve) => server.close(resolve))
      for (const socket of sockets) socket.destroy()
      await closed
    },
    stall () {
      stalled = true
    },
    async restore () {
      stalled = false
      if (!server.listening) await listen(port)
    },
  }
}
