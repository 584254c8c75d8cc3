// Imports files and directories with ipfs-unixfs-importer (the JS importer helia uses) and prints
// one JSON line per imported entry: {"input", "path", "cid", "size"}. The oracle of rhizo's CID
// parity test (tests/tests/unixfs_parity.rs).
//
// usage: node unixfs-import.mjs CID_VERSION(0|1) RAW_LEAVES(true|false) CHUNK_SIZE MAX_LINKS PATH...
// A PATH that is a file is imported alone (no name); a directory is imported with its entries
// named relative to its parent, so its own entry's path is its base name.
// Environment: RHIZO_SHARD_THRESHOLD sets the directory sharding threshold in bytes (256 KiB by
// default); RHIZO_DUMP_BLOCKS=1 also prints every block made, as {"block": CID, "hex": BYTES}.

import { importer } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { BlackHoleBlockstore } from 'blockstore-core/black-hole'
import { MemoryBlockstore } from 'blockstore-core/memory'
import { readFile, readdir, stat } from 'node:fs/promises'
import { basename, join } from 'node:path'

const [cidVersion, rawLeaves, chunkSize, maxLinks, ...paths] = process.argv.slice(2)
const options = {
  cidVersion: Number(cidVersion),
  rawLeaves: rawLeaves === 'true',
  leafType: 'file',
  chunker: fixedSize({ chunkSize: Number(chunkSize) }),
  layout: balanced({ maxChildrenPerNode: Number(maxLinks) }),
  reduceSingleLeafToSelf: true,
  wrapWithDirectory: false
}
if (process.env.RHIZO_SHARD_THRESHOLD != null) {
  options.shardSplitThresholdBytes = Number(process.env.RHIZO_SHARD_THRESHOLD)
}
const dump = process.env.RHIZO_DUMP_BLOCKS === '1'
const blockstore = dump ? new MemoryBlockstore() : new BlackHoleBlockstore()

async function * walk (dir, name) {
  const entries = await readdir(dir, { withFileTypes: true })
  if (entries.length === 0) {
    yield { path: name }
  }
  for (const entry of entries) {
    const full = join(dir, entry.name)
    const path = `${name}/${entry.name}`
    if (entry.isDirectory()) {
      yield * walk(full, path)
    } else {
      yield { path, content: await readFile(full) }
    }
  }
}

for (const input of paths) {
  const source = (await stat(input)).isDirectory()
    ? walk(input, basename(input))
    : [{ content: await readFile(input) }]
  for await (const entry of importer(source, blockstore, options)) {
    const line = { input, path: entry.path, cid: entry.cid.toString(), size: Number(entry.size) }
    process.stdout.write(JSON.stringify(line) + '\n')
  }
}

if (dump) {
  for await (const { cid, bytes } of blockstore.getAll()) {
    const parts = []
    for await (const part of bytes) parts.push(Buffer.from(part))
    const line = { block: cid.toString(), hex: Buffer.concat(parts).toString('hex') }
    process.stdout.write(JSON.stringify(line) + '\n')
  }
}
