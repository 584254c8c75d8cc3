// helia -> helia fetch benchmark over loopback, for hosts/rhizo/benches/content.rs (the
// reference that `rhizo cat` between two rhizo daemons is compared with; BENCHMARKS.md).
//
//   node --import ./with-resolvers.mjs helia-bench.mjs --file PATH [--deadline-ms N]
//
// Two helia 7 nodes in two node processes (as the two rhizo daemons are two processes): this
// process starts the provider (`helia-bench.mjs --provide PATH`, a child process), which adds
// the file and reports its CID and addresses; then it starts the fetcher, dials the provider
// and times `@helia/unixfs` `cat` of the CID from its first call to its last chunk. Import
// settings, the same as `rhizo add --cid-version 1` uses: CIDv1, raw leaves, 262144-byte
// chunks, balanced layout with 174 links per node. Each node: libp2p with TCP on 127.0.0.1,
// Noise, yamux and identify, Bitswap, in-memory blockstore; nothing else.
// Output, one JSON line on stdout:
//   {"event":"result","cid":..,"bytes":N,"ms":N}    or    {"event":"error","message":..}
// Both processes exit at the end (the provider when its stdin closes), or at the deadline.

import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { withBitswap } from '@helia/bitswap'
import { withLibp2pLight } from '@helia/libp2p'
import { unixfs } from '@helia/unixfs'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createHeliaLight } from 'helia'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { CID } from 'multiformats/cid'
import { spawn } from 'node:child_process'
import { createReadStream } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const args = process.argv.slice(2)
function arg (name) {
  const at = args.indexOf(name)
  return at >= 0 ? args[at + 1] : undefined
}
const deadlineMs = Number(arg('--deadline-ms') ?? 300000)
const deadline = setTimeout(() => {
  process.stdout.write(JSON.stringify({ event: 'error', message: 'deadline' }) + '\n')
  process.exit(3)
}, deadlineMs)
deadline.unref()

async function startHelia () {
  const helia = withBitswap(withLibp2pLight(createHeliaLight(), {
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: [],
    services: { identify: identify() }
  }))
  await helia.start()
  return helia
}

async function provide (path) {
  const helia = await startHelia()
  const cid = await unixfs(helia).addByteStream(createReadStream(path, { highWaterMark: 262144 }), {
    cidVersion: 1,
    rawLeaves: true,
    chunker: fixedSize({ chunkSize: 262144 }),
    layout: balanced({ maxChildrenPerNode: 174 })
  })
  process.stdout.write(JSON.stringify({
    event: 'provided',
    cid: cid.toString(),
    addrs: helia.libp2p.getMultiaddrs().map(a => a.toString())
  }) + '\n')
  // Serve until the fetcher closes stdin.
  process.stdin.resume()
  process.stdin.on('end', async () => {
    await helia.stop()
    process.exit(0)
  })
}

async function fetch (path) {
  const script = fileURLToPath(import.meta.url)
  const provider = spawn(process.execPath, [...process.execArgv, script, '--provide', path], {
    stdio: ['pipe', 'pipe', 'inherit']
  })
  provider.on('exit', code => {
    if (code !== 0 && code !== null) {
      process.stdout.write(JSON.stringify({ event: 'error', message: `provider exited ${code}` }) + '\n')
      process.exit(4)
    }
  })
  const provided = await new Promise((resolve, reject) => {
    const lines = createInterface({ input: provider.stdout })
    lines.once('line', line => resolve(JSON.parse(line)))
    lines.once('close', () => reject(new Error('the provider ended without a CID')))
  })
  const helia = await startHelia()
  await helia.libp2p.dial(multiaddr(provided.addrs[0]))
  const fs = unixfs(helia)
  let bytes = 0
  const start = performance.now()
  for await (const chunk of fs.cat(CID.parse(provided.cid), { signal: AbortSignal.timeout(deadlineMs) })) {
    bytes += chunk.byteLength
  }
  const ms = performance.now() - start
  process.stdout.write(JSON.stringify({ event: 'result', cid: provided.cid, bytes, ms }) + '\n')
  provider.stdin.end()
  await helia.stop()
  await new Promise(resolve => {
    if (provider.exitCode !== null) resolve()
    else provider.once('exit', resolve)
    setTimeout(() => { provider.kill('SIGKILL'); resolve() }, 5000).unref()
  })
  process.exit(0)
}

try {
  if (arg('--provide') != null) {
    await provide(arg('--provide'))
  } else if (arg('--file') != null) {
    await fetch(arg('--file'))
  } else {
    throw new Error('usage: helia-bench.mjs --file PATH')
  }
} catch (err) {
  process.stdout.write(JSON.stringify({ event: 'error', message: String(err?.stack ?? err) }) + '\n')
  process.exit(1)
}
