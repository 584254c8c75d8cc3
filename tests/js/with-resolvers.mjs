// Promise.withResolvers (ES2024) for node 20, which js-libp2p 3 needs; node 22 has it.
// Loaded before peer.mjs with `node --import ./with-resolvers.mjs peer.mjs ...`.
if (typeof Promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers () {
      let resolve
      let reject
      const promise = new this((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    }
  })
}
