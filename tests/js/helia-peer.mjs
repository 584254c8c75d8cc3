// A helia 7 node (Bitswap and UnixFS) for rhizo's Bitswap interoperability test
// (hosts/rhizo/tests/helia.rs).
//
//   node --import ./with-resolvers.mjs helia-peer.mjs [--deadline-ms N]
//
// Loopback only: libp2p with TCP on 127.0.0.1, Noise, yamux and identify, no bootstrap, peer
// discovery, HTTP routers or gateways (helia's light constructor with Bitswap and libp2p
// added, not createHelia's defaults). Commands arrive on stdin, one JSON object per line;
// reports leave on stdout, one JSON object per line:
//   -> {"event":"ready","peerId":..,"addrs":[..]}
//   <- {"cmd":"add","data":base64,"cidVersion":0|1,"rawLeaves":bool[,"chunkSize":N,"maxLinks":N]}
//                                                                   -> {"event":"added","cid":..}
//   <- {"cmd":"cat","cid":..,"timeoutMs":N}                         -> {"event":"cat","data":base64}
//   <- {"cmd":"peers"}                                              -> {"event":"peers","peers":[..]}
//   -> {"event":"error","what":..,"message":..}
// Stops and exits when stdin closes or at the deadline (default 60 s).

import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { withBitswap } from '@helia/bitswap'
import { withLibp2pLight } from '@helia/libp2p'
import { unixfs } from '@helia/unixfs'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { createHeliaLight } from 'helia'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { CID } from 'multiformats/cid'
import { createInterface } from 'node:readline'

const args = process.argv.slice(2)
const deadlineAt = args.indexOf('--deadline-ms')
const deadlineMs = deadlineAt >= 0 ? Number(args[deadlineAt + 1]) : 60000

function report (event) {
  process.stdout.write(JSON.stringify(event) + '\n')
}

const helia = withBitswap(withLibp2pLight(createHeliaLight(), {
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  peerDiscovery: [],
  services: { identify: identify() }
}))
await helia.start()
const fs = unixfs(helia)

let stopping = false
async function stop (code) {
  if (stopping) return
  stopping = true
  clearTimeout(deadline)
  try {
    await helia.stop()
  } finally {
    process.exit(code)
  }
}
const deadline = setTimeout(() => { stop(3) }, deadlineMs)

report({
  event: 'ready',
  peerId: helia.libp2p.peerId.toString(),
  addrs: helia.libp2p.getMultiaddrs().map(a => a.toString())
})

async function run (command) {
  switch (command.cmd) {
    case 'add': {
      const options = { cidVersion: command.cidVersion, rawLeaves: command.rawLeaves }
      if (command.chunkSize != null) {
        options.chunker = fixedSize({ chunkSize: command.chunkSize })
      }
      if (command.maxLinks != null) {
        options.layout = balanced({ maxChildrenPerNode: command.maxLinks })
      }
      const cid = await fs.addBytes(Buffer.from(command.data, 'base64'), options)
      report({ event: 'added', cid: cid.toString() })
      break
    }
    case 'cat': {
      const chunks = []
      for await (const chunk of fs.cat(CID.parse(command.cid), {
        signal: AbortSignal.timeout(command.timeoutMs ?? 20000)
      })) {
        chunks.push(chunk)
      }
      report({ event: 'cat', data: Buffer.concat(chunks).toString('base64') })
      break
    }
    case 'peers':
      report({ event: 'peers', peers: helia.libp2p.getPeers().map(p => p.toString()) })
      break
    default:
      report({ event: 'error', what: 'command', message: `unknown command ${command.cmd}` })
  }
}

const lines = createInterface({ input: process.stdin })
lines.on('line', line => {
  let command
  try {
    command = JSON.parse(line)
  } catch (err) {
    report({ event: 'error', what: 'parse', message: String(err) })
    return
  }
  run(command).catch(err => {
    report({ event: 'error', what: command.cmd, message: String(err?.stack ?? err) })
  })
})
lines.on('close', () => { stop(0) })
