#!/usr/bin/env node
/*
 * kafkajs driver for Streamlog's interop tests (tests/interop/test_kafkajs.py, test_cross_client.py).
 *
 * Theory of operation: one command per process.  `node driver.js COMMAND` reads one JSON request
 * from stdin and writes one JSON answer to stdout (kafkajs's own log goes to stderr).  Binary fields
 * (keys, values, header values) travel as base64; offsets and timestamps as decimal strings or numbers.
 *
 * Commands (request -> answer):
 *   create-topic      {bootstrap, topic, partitions}            -> {created, partitions}
 *   produce           {bootstrap, topic, codec, records:[{key, value, headers:[[k, v]], timestamp}]}
 *                                                               -> {deliveries:[{partition, offset}]}
 *       acks=-1 (all); sent in two halves.  Each record's partition is chosen up front with kafkajs's
 *       own DefaultPartitioner (Java-compatible murmur2), so the driver knows where every record went;
 *       its offset is the partition's baseOffset from the produce response plus its rank in the batch.
 *   consume           {bootstrap, topic, start:{partition: offset}, expected, timeout_ms}
 *                                                               -> {records:[{partition, offset, key, value,
 *                                                                   headers, timestamp, timestamp_type}]}
 *       kafkajs has no assign()-style consumer, only consumer groups, so this drives kafkajs's broker
 *       connection directly: Fetch requests (kafkajs's own version negotiation, decoding and codecs) at
 *       explicit offsets, until `expected` records arrived or the deadline passed.
 *   offsets-by-time   {bootstrap, topic, timestamp}             -> {offsets:[{partition, offset}]}
 *   offsets           {bootstrap, topic}                        -> {offsets:[{partition, low, high}]}
 *   txn-plan          {bootstrap, topic, transactional_id, label, plan:[[count, commit], ...],
 *                      partitions}                              -> {transactions}
 *       One transactional producer runs one transaction per plan entry: `count` records
 *       "<label>-t<i>-<j>" round-robin over the partitions, acknowledged, then commit or abort.
 *   txn-fence         {bootstrap, topic, transactional_id}      -> {send:{...}, commit:{...}}
 *       Two transactional producers with one transactional id: the old one writes "old-1" in a
 *       transaction, the new one starts (fencing it) and commits "new-1", then the old one tries to
 *       send "old-2" and to commit.  Each outcome is {ok:true} or the error's {name, type, retriable}.
 *
 * Codecs: gzip is built into kafkajs; snappy from kafkajs-snappy (pure JS), lz4 from @2l/kafkajs-lz4
 * (lz4-napi, prebuilt binaries from the npm registry), zstd through a small adapter over
 * @bokuweb/zstd-wasm (WebAssembly; the usual @kafkajs/zstd needs a native build that fails on Node 20).
 */
'use strict'

const { Kafka, CompressionTypes, CompressionCodecs, Partitioners, logLevel } = require('kafkajs')
const SnappyCodec = require('kafkajs-snappy')
const LZ4Codec = require('@2l/kafkajs-lz4')
const zstd = require('@bokuweb/zstd-wasm')

const CODECS = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
}

function registerCodecs () {
  CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec
  CompressionCodecs[CompressionTypes.LZ4] = new LZ4Codec().codec
  CompressionCodecs[CompressionTypes.ZSTD] = () => ({
    async compress (encoder) {
      return Buffer.from(zstd.compress(encoder.buffer, 3))
    },
    async decompress (buffer) {
      return Buffer.from(zstd.decompress(buffer))
    },
  })
}

function stderrLogger () {
  return ({ namespace, level, label, log }) => {
    const { message, ...extra } = log
    process.stderr.write(`[kafkajs ${label} ${namespace}] ${message} ${JSON.stringify(extra)}\n`)
  }
}

function client (bootstrap) {
  return new Kafka({
    clientId: 'streamlog-interop',
    brokers: [bootstrap],
    logLevel: logLevel.WARN,
    logCreator: stderrLogger,
    connectionTimeout: 10000,
    requestTimeout: 30000,
    retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000 },
  })
}

const b64 = s => (s === null || s === undefined ? null : Buffer.from(s, 'base64'))
const toB64 = buf => (buf === null || buf === undefined ? null : Buffer.from(buf).toString('base64'))

function headersToObject (pairs) {
  const obj = {}
  for (const [k, v] of pairs) {
    const value = b64(v)
    if (!(k in obj)) obj[k] = value
    else if (Array.isArray(obj[k])) obj[k].push(value)
    else obj[k] = [obj[k], value]
  }
  return obj
}

function headersToPairs (obj) {
  const pairs = []
  for (const [k, v] of Object.entries(obj || {})) {
    for (const item of Array.isArray(v) ? v : [v]) pairs.push([k, toB64(item)])
  }
  return pairs
}

async function createTopic ({ bootstrap, topic, partitions }) {
  const admin = client(bootstrap).admin()
  await admin.connect()
  try {
    const created = await admin.createTopics({
      waitForLeaders: true,
      timeout: 15000,
      topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }],
    })
    const md = await admin.fetchTopicMetadata({ topics: [topic] })
    return { created, partitions: md.topics[0].partitions.length }
  } finally {
    await admin.disconnect()
  }
}

async function produce ({ bootstrap, topic, codec, records }) {
  if (!(codec in CODECS)) throw new Error(`unknown codec ${codec}`)
  const kafka = client(bootstrap)
  const admin = kafka.admin()
  await admin.connect()
  let partitionMetadata
  try {
    const md = await admin.fetchTopicMetadata({ topics: [topic] })
    partitionMetadata = md.topics[0].partitions
  } finally {
    await admin.disconnect()
  }
  const partitioner = Partitioners.DefaultPartitioner()
  const messages = records.map(r => {
    const message = { key: b64(r.key), value: b64(r.value), headers: headersToObject(r.headers) }
    if (r.timestamp !== null && r.timestamp !== undefined) message.timestamp = String(r.timestamp)
    message.partition = partitioner({ topic, partitionMetadata, message })
    return message
  })
  const producer = kafka.producer({ allowAutoTopicCreation: false, idempotent: false })
  await producer.connect()
  const deliveries = new Array(messages.length).fill(null)
  try {
    const mid = Math.floor(messages.length / 2)
    for (const [lo, hi] of [[0, mid], [mid, messages.length]]) {
      const half = messages.slice(lo, hi)
      const meta = await producer.send({ topic, acks: -1, compression: CODECS[codec], messages: half })
      const base = {}
      for (const m of meta) {
        if (m.errorCode !== 0) throw new Error(`produce error ${m.errorCode} on partition ${m.partition}`)
        base[m.partition] = BigInt(m.baseOffset)
      }
      const rank = {}
      half.forEach((m, i) => {
        const n = rank[m.partition] || 0n
        rank[m.partition] = n + 1n
        deliveries[lo + i] = { partition: m.partition, offset: (base[m.partition] + n).toString() }
      })
    }
  } finally {
    await producer.disconnect()
  }
  return { deliveries }
}

function clusterOf (kafka) {
  const sym = Object.getOwnPropertySymbols(kafka).find(s => s.description === 'private:Kafka:createCluster')
  if (!sym) throw new Error('kafkajs internals changed: no createCluster symbol')
  return kafka[sym]({ metadataMaxAge: 300000, allowAutoTopicCreation: false, isolationLevel: 1 })
}

async function consume ({ bootstrap, topic, start, expected, timeout_ms: timeoutMs }) {
  const cluster = clusterOf(client(bootstrap))
  await cluster.connect()
  const out = []
  try {
    await cluster.addTargetTopic(topic)
    const next = {}
    for (const [p, off] of Object.entries(start)) next[p] = BigInt(off)
    const leaders = cluster.findLeaderForPartitions(topic, Object.keys(next))
    const deadline = Date.now() + (timeoutMs || 30000)
    while (out.length < expected && Date.now() < deadline) {
      for (const [nodeId, partitions] of Object.entries(leaders)) {
        const broker = await cluster.findBroker({ nodeId })
        const response = await broker.fetch({
          replicaId: -1,
          isolationLevel: 1,
          maxWaitTime: 200,
          minBytes: 1,
          maxBytes: 10485760,
          topics: [{
            topic,
            partitions: partitions.map(p => ({ partition: p, fetchOffset: next[p].toString(), maxBytes: 1048576 })),
          }],
        })
        for (const topicResponse of response.responses) {
          for (const pd of topicResponse.partitions) {
            if (pd.errorCode !== 0) throw new Error(`fetch error ${pd.errorCode} on partition ${pd.partition}`)
            for (const m of pd.messages) {
              const offset = BigInt(m.offset)
              if (m.isControlRecord || offset < next[pd.partition]) continue
              out.push({
                partition: pd.partition,
                offset: m.offset,
                key: toB64(m.key),
                value: toB64(m.value),
                headers: headersToPairs(m.headers),
                timestamp: m.timestamp,
                timestamp_type: m.batchContext ? m.batchContext.timestampType : -1,
              })
              next[pd.partition] = offset + 1n
            }
          }
        }
      }
    }
  } finally {
    await cluster.disconnect()
  }
  return { records: out }
}

async function offsetsByTime ({ bootstrap, topic, timestamp }) {
  const admin = client(bootstrap).admin()
  await admin.connect()
  try {
    return { offsets: await admin.fetchTopicOffsetsByTimestamp(topic, timestamp) }
  } finally {
    await admin.disconnect()
  }
}

async function offsets ({ bootstrap, topic }) {
  const admin = client(bootstrap).admin()
  await admin.connect()
  try {
    const result = await admin.fetchTopicOffsets(topic)
    return { offsets: result.map(({ partition, low, high }) => ({ partition, low, high })) }
  } finally {
    await admin.disconnect()
  }
}

const COMMANDS = {
  'create-topic': createTopic,
  produce,
  consume,
  'offsets-by-time': offsetsByTime,
  offsets,
  'txn-plan': txnPlan,
  'txn-fence': txnFence,
}

async function txnPlan ({ bootstrap, topic, transactional_id: transactionalId, label, plan, partitions }) {
  const producer = client(bootstrap).producer({ transactionalId, idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  try {
    for (const [t, [count, commit]] of plan.entries()) {
      const txn = await producer.transaction()
      const messages = []
      for (let i = 0; i < count; i++) messages.push({ partition: i % partitions, value: `${label}-t${t}-${i}` })
      await txn.send({ topic, acks: -1, messages })
      if (commit) await txn.commit()
      else await txn.abort()
    }
    return { transactions: plan.length }
  } finally {
    await producer.disconnect()
  }
}

function outcomeOf (err) {
  if (!err) return { ok: true }
  return { ok: false, name: err.name, type: err.type || null, retriable: Boolean(err.retriable),
    message: err.message }
}

async function txnFence ({ bootstrap, topic, transactional_id: transactionalId }) {
  const kafka = client(bootstrap)
  const options = { transactionalId, idempotent: true, maxInFlightRequests: 1, retry: { retries: 2 } }
  const old = kafka.producer(options)
  const fresh = kafka.producer(options)
  await old.connect()
  await fresh.connect()
  try {
    const oldTxn = await old.transaction()
    await oldTxn.send({ topic, acks: -1, messages: [{ partition: 0, value: 'old-1' }] })
    const newTxn = await fresh.transaction()
    await newTxn.send({ topic, acks: -1, messages: [{ partition: 0, value: 'new-1' }] })
    await newTxn.commit()
    const answer = {}
    try {
      await oldTxn.send({ topic, acks: -1, messages: [{ partition: 0, value: 'old-2' }] })
      answer.send = outcomeOf(null)
    } catch (err) {
      answer.send = outcomeOf(err)
    }
    try {
      await oldTxn.commit()
      answer.commit = outcomeOf(null)
    } catch (err) {
      answer.commit = outcomeOf(err)
    }
    return answer
  } finally {
    await old.disconnect()
    await fresh.disconnect()
  }
}

async function readStdin () {
  const chunks = []
  for await (const chunk of process.stdin) chunks.push(chunk)
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}')
}

async function main () {
  const command = COMMANDS[process.argv[2]]
  if (!command) {
    process.stderr.write(`usage: driver.js (${Object.keys(COMMANDS).join('|')}) < request.json\n`)
    process.exit(2)
  }
  await zstd.init()
  registerCodecs()
  const answer = await command(await readStdin())
  process.stdout.write(JSON.stringify(answer) + '\n')
}

main().catch(err => {
  process.stderr.write(`driver failed: ${err && err.stack ? err.stack : err}\n`)
  process.exit(1)
})
