#!/usr/bin/env node
/*
 * The two npm schema registry clients against Streamlog's registry (tests/interop/test_registry_npm.py).
 *
 * Theory of operation: one command per process, as driver.js: `node registry_clients.js COMMAND`
 * reads one JSON request from stdin and writes one JSON answer to stdout.
 *
 * Commands (request -> answer):
 *   confluent  {registry, prefix}    @confluentinc/schemaregistry: for Avro and JSON Schema, register
 *              -> {avro:{...}, json:{...}}       a schema under `${prefix}-avro` / `${prefix}-json`,
 *       fetch it back (by id, latest, version), look it up, serialize a record with the library's
 *       serializer (useLatestVersion) and deserialize it.  Each answer: {id, version, latest_id, lookup_id,
 *       subjects_has, versions, fetched (schema text by id), payload (base64), decoded}.
 *   kafkajs    {registry, bootstrap, prefix, topic}   @kafkajs/confluent-schema-registry: register Avro,
 *              -> {avro:{...}, json:{...}, protobuf:{...}}   JSON Schema and Protobuf schemas, fetch the
 *       latest id, encode and decode a record; then kafkajs produces the three payloads to `topic`
 *       (partition 0, in that order) for the Python side to read and decode.
 * Errors: the process prints the error to stderr and exits 1.
 */
'use strict'

const confluent = require('@confluentinc/schemaregistry')
const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry')
const { Kafka, logLevel } = require('kafkajs')

const AVRO = {
  type: 'record',
  name: 'Reading',
  namespace: 'com.example.npm',
  fields: [{ name: 'sensor', type: 'string' }, { name: 'value', type: 'double' }]
}
const JSON_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'Reading',
  type: 'object',
  properties: { sensor: { type: 'string' }, value: { type: 'number' } },
  required: ['sensor', 'value'],
  additionalProperties: false
}
const PROTO = 'syntax = "proto3";\npackage npm;\n\nmessage Reading {\n  string sensor = 1;\n  double value = 2;\n}\n'
const RECORD = { sensor: 't-1', value: 21.5 }

function readStdin () {
  return new Promise((resolve, reject) => {
    const chunks = []
    process.stdin.on('data', (c) => chunks.push(c))
    process.stdin.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))))
    process.stdin.on('error', reject)
  })
}

async function confluentOne (client, subject, info, topic) {
  const { SerdeType } = confluent
  const id = await client.register(subject, info, false)
  const latest = await client.getLatestSchemaMetadata(subject)
  const version = await client.getSchemaMetadata(subject, latest.version, false)
  const fetched = await client.getBySubjectAndId(subject, id)
  const lookupId = await client.getId(subject, info, false)
  const versions = await client.getAllVersions(subject)
  const subjects = await client.getAllSubjects()
  const compatible = await client.testSubjectCompatibility(subject, info)
  const isAvro = info.schemaType === 'AVRO'
  const Ser = isAvro ? confluent.AvroSerializer : confluent.JsonSerializer
  const Des = isAvro ? confluent.AvroDeserializer : confluent.JsonDeserializer
  const ser = new Ser(client, SerdeType.VALUE, { autoRegisterSchemas: false, useLatestVersion: true })
  const des = new Des(client, SerdeType.VALUE, {})
  const payload = await ser.serialize(topic, RECORD)
  const decoded = await des.deserialize(topic, payload)
  return {
    id,
    version: version.version,
    latest_id: latest.id,
    lookup_id: lookupId,
    versions,
    subjects_has: subjects.includes(subject),
    compatible,
    fetched: fetched.schema,
    payload: payload.toString('base64'),
    decoded
  }
}

async function runConfluent (req) {
  const client = new confluent.SchemaRegistryClient({ baseURLs: [req.registry], maxRetries: 0 })
  // TopicNameStrategy: subject = `${topic}-value`
  const avro = await confluentOne(client, `${req.prefix}-avro-value`,
    { schemaType: 'AVRO', schema: JSON.stringify(AVRO) }, `${req.prefix}-avro`)
  const json = await confluentOne(client, `${req.prefix}-json-value`,
    { schemaType: 'JSON', schema: JSON.stringify(JSON_SCHEMA) }, `${req.prefix}-json`)
  client.close()
  return { avro, json }
}

async function kafkajsOne (registry, subject, schema) {
  const { id } = await registry.register(schema, { subject })
  const latest = await registry.getLatestSchemaId(subject)
  const byVersion = await registry.getRegistryId(subject, 1)
  const bySchema = await registry.getRegistryIdBySchema(subject, schema)
  const payload = await registry.encode(id, RECORD)
  const decoded = await registry.decode(payload)
  return { id, latest_id: latest, version_id: byVersion, lookup_id: bySchema, payload, decoded }
}

async function runKafkajs (req) {
  const registry = new SchemaRegistry({ host: req.registry, retry: { retries: 0 } })
  const results = {
    avro: await kafkajsOne(registry, `${req.prefix}-avro`, { type: SchemaType.AVRO, schema: JSON.stringify(AVRO) }),
    json: await kafkajsOne(registry, `${req.prefix}-json`, { type: SchemaType.JSON, schema: JSON.stringify(JSON_SCHEMA) }),
    protobuf: await kafkajsOne(registry, `${req.prefix}-protobuf`, { type: SchemaType.PROTOBUF, schema: PROTO })
  }
  const kafka = new Kafka({ clientId: 'registry-npm', brokers: [req.bootstrap], logLevel: logLevel.WARN })
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({
    topic: req.topic,
    acks: -1,
    messages: ['avro', 'json', 'protobuf'].map((k) => ({ partition: 0, key: k, value: results[k].payload }))
  })
  await producer.disconnect()
  for (const k of Object.keys(results)) {
    results[k].payload = results[k].payload.toString('base64')
    // protobufjs decodes to a message object: keep its plain fields
    results[k].decoded = JSON.parse(JSON.stringify(results[k].decoded))
  }
  return results
}

async function main () {
  const command = process.argv[2]
  const req = await readStdin()
  let answer
  if (command === 'confluent') answer = await runConfluent(req)
  else if (command === 'kafkajs') answer = await runKafkajs(req)
  else throw new Error(`unknown command ${command}`)
  process.stdout.write(JSON.stringify(answer))
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err)
  process.exit(1)
})
