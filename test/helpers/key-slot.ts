/**
 * The hash slot of a key on Redis Cluster, computed as Redis's keyHashSlot does (cluster.c):
 * CRC16 (XMODEM) of the hash tag, the bytes between the first '{' and the first '}' after it
 * when there are any, else of the whole key; mod 16384. Written out rather than taken from
 * cluster-key-slot (the module ioredis routes with), which reads a key with an empty tag,
 * `a{}b}`, differently: there Redis hashes the whole key. test/integration/redis-cluster.test.ts
 * holds this against CLUSTER KEYSLOT of a real cluster.
 */
export function keySlot(key: string): number {
  const open = key.indexOf('{')
  if (open >= 0) {
    const close = key.indexOf('}', open + 1)
    if (close > open + 1) return crc16(Buffer.from(key.slice(open + 1, close))) & 0x3fff
  }
  return crc16(Buffer.from(key)) & 0x3fff
}

function crc16(bytes: Uint8Array): number {
  let crc = 0
  for (const b of bytes) {
    crc ^= b << 8
    for (let i = 0; i < 8; i++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
  }
  return crc
}
