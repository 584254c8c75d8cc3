// A js-libp2p 3 peer for rhizo's interoperability tests (tests/tests/js_libp2p.rs).
//
//   node --import ./with-resolvers.mjs peer.mjs listen [--deadline-ms N]
//   node --import ./with-resolvers.mjs peer.mjs dial <multiaddr> [--deadline-ms N]
//
// TCP on 127.0.0.1 only, Noise, yamux, ping and identify; no bootstrap, peer discovery,
// AutoNAT, UPnP or relay. Reports on stdout, one JSON object per line:
//   {"event":"listening","peerId":..,"addrs":[..]}      (listen mode, once started)
//   {"event":"connected","peerId":..,"addr":..}          (each connection opened)
//   {"event":"identify","peerId":..,"agentVersion":..,"protocolVersion":..,"protocols":[..]}
//   {"event":"ping","peerId":..,"rtt":ms}                (a ping it sent, answered)
//   {"event":"error","what":..,"message":..}             (something failed)
// Pings each peer once identify with it has completed. Stops and exits when stdin closes
// (the test ends or dies) or at the deadline (default 60 s), whichever comes first.

import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

const args = process.argv.slice(2)
const mode = args[0]
const deadlineAt = args.indexOf('--deadline-ms')
const deadlineMs = deadlineAt >= 0 ? Number(args[deadlineAt + 1]) : 60000

function report (event) {
  process.stdout.write(JSON.stringify(event) + '\n')
}

function fail (what, err) {
  report({ event: 'error', what, message: String(err?.stack ?? err) })
}

if ((mode !== 'listen' && mode !== 'dial') || (mode === 'dial' && args[1] == null) ||
    !(deadlineMs > 0)) {
  process.stderr.write('usage: peer.mjs listen|dial <multiaddr> [--deadline-ms N]\n')
  process.exit(2)
}

const node = await createLibp2p({
  addresses: { listen: mode === 'listen' ? ['/ip4/127.0.0.1/tcp/0'] : [] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  peerDiscovery: [],
  services: {
    identify: identify(),
    ping: ping()
  }
})

let stopping = false
async function stop (code) {
  if (stopping) return
  stopping = true
  clearTimeout(deadline)
  try {
    await node.stop()
  } catch (err) {
    fail('stop', err)
  }
  process.exit(code)
}
const deadline = setTimeout(() => { stop(0) }, deadlineMs)
process.stdin.on('end', () => { stop(0) })
process.stdin.on('close', () => { stop(0) })
process.stdin.resume()

node.addEventListener('connection:open', (evt) => {
  const conn = evt.detail
  report({ event: 'connected', peerId: conn.remotePeer.toString(), addr: conn.remoteAddr.toString() })
})

node.addEventListener('peer:identify', (evt) => {
  const info = evt.detail
  report({
    event: 'identify',
    peerId: info.peerId.toString(),
    agentVersion: info.agentVersion ?? null,
    protocolVersion: info.protocolVersion ?? null,
    protocols: info.protocols,
    listenAddrs: info.listenAddrs.map((a) => a.toString()),
    observedAddr: info.observedAddr?.toString() ?? null
  })
  node.services.ping.ping(info.peerId, { signal: AbortSignal.timeout(10000) }).then(
    (rtt) => { report({ event: 'ping', peerId: info.peerId.toString(), rtt }) },
    (err) => { fail('ping', err) }
  )
})

if (mode === 'listen') {
  report({
    event: 'listening',
    peerId: node.peerId.toString(),
    addrs: node.getMultiaddrs().map((a) => a.toString())
  })
} else {
  report({ event: 'started', peerId: node.peerId.toString() })
  try {
    await node.dial(multiaddr(args[1]), { signal: AbortSignal.timeout(10000) })
  } catch (err) {
    fail('dial', err)
  }
}
