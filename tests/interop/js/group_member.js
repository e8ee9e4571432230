#!/usr/bin/env node
/*
 * One kafkajs consumer-group member as its own process, for Streamlog's group interop tests
 * (tests/interop/test_groups_*.py; the Python clients use tests/support/group_member.py).
 *
 * Theory of operation: `node group_member.js '<json options>'` joins the group and writes one JSON
 * object per line to stdout, the same events as the Python runner:
 *   {"event":"subscribed"}
 *   {"event":"assigned","partitions":[..]}   its whole assignment after every completed join (GROUP_JOIN)
 *   {"event":"record","partition":p,"offset":o,"value":"..."}
 *   {"event":"closed"}                       after a graceful disconnect (SIGTERM, or stop_after reached)
 * Options: bootstrap, topic, group, session_ms, stop_after (consume that many records, committing each
 * one's offset + 1 before the next, then leave), commit_metadata (ignored: kafkajs commits no metadata).
 * SIGTERM disconnects (kafkajs sends LeaveGroup); SIGKILL is a crash.  kafkajs has no static membership.
 */
'use strict'

const { Kafka, logLevel } = require('kafkajs')

function emit (event, fields = {}) {
  process.stdout.write(JSON.stringify({ event, ...fields }) + '\n')
}

async function main () {
  const opts = JSON.parse(process.argv[2])
  const kafka = new Kafka({
    clientId: opts.client_id || 'group-member',
    brokers: [opts.bootstrap],
    logLevel: logLevel.WARN,
    logCreator: () => ({ namespace, label, log }) => {
      process.stderr.write(`[kafkajs ${label} ${namespace}] ${log.message}\n`)
    },
    retry: { retries: 10, initialRetryTime: 100, maxRetryTime: 1000 },
  })
  const consumer = kafka.consumer({
    groupId: opts.group,
    sessionTimeout: opts.session_ms,
    rebalanceTimeout: Math.max(opts.session_ms, 10000),
    heartbeatInterval: 500,
    maxWaitTimeInMs: 250,
    retry: { retries: 10, initialRetryTime: 100, maxRetryTime: 1000 },
  })
  let closing = false
  const close = async () => {
    if (closing) return
    closing = true
    await consumer.disconnect()
    emit('closed')
    process.exit(0)
  }
  process.on('SIGTERM', close)
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    const parts = (payload.memberAssignment[opts.topic] || []).slice().sort((a, b) => a - b)
    emit('assigned', { partitions: parts })
  })
  await consumer.connect()
  await consumer.subscribe({ topics: [opts.topic], fromBeginning: true })
  emit('subscribed')
  let seen = 0
  let done = false
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ topic, partition, message }) => {
      if (closing || done) return
      emit('record', { partition, offset: Number(message.offset), value: message.value ? message.value.toString() : '' })
      seen += 1
      if (opts.stop_after !== undefined && opts.stop_after !== null) {
        await consumer.commitOffsets([{ topic, partition, offset: String(Number(message.offset) + 1) }])
        if (seen >= opts.stop_after) {
          done = true
          consumer.pause([{ topic }])
          setImmediate(close)
        }
      }
    },
  })
}

main().catch(err => {
  process.stderr.write(`group_member failed: ${err && err.stack ? err.stack : err}\n`)
  process.exit(1)
})
