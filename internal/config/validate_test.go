package config_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/renderer"
	"github.com/hookrelay/hookrelay/sender"
)

// hook is the start of a config with one webhook on lines 1-3; test cases
// append its further keys from line 4 on (indented by four spaces).
const hook = `webhooks:
  - name: a
    url: https://hooks.example.com/a
`

// Ensure each validation rule rejects a bad value with its key path and position.
func TestParse_Rules(t *testing.T) {
	checkRules(t, []ruleCase{
		{
			name:    "UnknownTopLevelKey",
			given:   "webhook:\n  - name: a\n",
			wantErr: []string{`webhook (line 1, col 1): unknown key "webhook"`},
			wantIs:  config.ErrUnknownKey,
		},
		{
			name:    "UnknownNestedKey",
			given:   hook + "    retry:\n      max_attempt: 3\n",
			wantErr: []string{`webhooks[0].retry.max_attempt (line 5, col 7): unknown key "max_attempt"`},
			wantIs:  config.ErrUnknownKey,
		},
		{
			name:    "UnknownKeyInFlowMapping",
			given:   hook + "    circuit_breaker: {failure_ratio: 0.5, open: 1s}\n",
			wantErr: []string{`webhooks[0].circuit_breaker.open (line 4, col 43): unknown key "open"`},
			wantIs:  config.ErrUnknownKey,
		},
		{
			name:    "UnknownCoralogixKey",
			given:   hook + "    coralogix:\n      region: us1\n      application_name: a\n      subsystem_name: b\n      batch: {max_event: 1}\n",
			wantErr: []string{`webhooks[0].coralogix.batch.max_event (line 8, col 15): unknown key`},
			wantIs:  config.ErrUnknownKey,
		},
		{
			name:    "DuplicateKey",
			given:   hook + "    url: https://hooks.example.com/b\n",
			wantErr: []string{`webhooks[0].url (line 4, col 5): key "url" given twice`},
			wantIs:  config.ErrDuplicateKey,
		},
		{
			name:    "WrongKind",
			given:   hook + "    headers: [a, b]\n",
			wantErr: []string{`webhooks[0].headers (line 4, col 14): expected a mapping, got a sequence`},
			wantIs:  config.ErrType,
		},
		{
			name:    "NotAnInteger",
			given:   hook + "    concurrency: lots\n",
			wantErr: []string{`webhooks[0].concurrency (line 4, col 18): "lots" is not an integer`},
			wantIs:  config.ErrType,
		},
		{
			name:    "NotAnIntegerAfterExpansion",
			given:   hook + "    concurrency: ${CONC}\n",
			env:     map[string]string{"CONC": "secret-ish"},
			wantErr: []string{`webhooks[0].concurrency (line 4, col 18): "${CONC}" (after expansion) is not an integer`},
			wantIs:  config.ErrType,
		},
		{
			name:    "NotABool",
			given:   hook + "    ordered: maybe\n",
			wantErr: []string{`webhooks[0].ordered (line 4, col 14): "maybe" is not a boolean`},
			wantIs:  config.ErrType,
		},
		{
			name:    "NotADuration",
			given:   hook + "    timeout: soon\n",
			wantErr: []string{`webhooks[0].timeout (line 4, col 14): "soon" is not a duration`},
			wantIs:  config.ErrType,
		},
		{
			name:    "NegativeMinRequests",
			given:   hook + "    circuit_breaker: {min_requests: -1}\n",
			wantErr: []string{`webhooks[0].circuit_breaker.min_requests (line 4, col 37): "-1" is not a non-negative integer`},
			wantIs:  config.ErrType,
		},
		{
			name:    "NameMissing",
			given:   "webhooks:\n  - url: https://hooks.example.com/a\n",
			wantErr: []string{`webhooks[0].name (line 2, col 5): a webhook name is required`},
			wantIs:  config.ErrRequired,
		},
		{
			name:    "NameBadChars",
			given:   "webhooks:\n  - name: my hook!\n    url: https://hooks.example.com/a\n",
			wantErr: []string{`webhooks[0].name (line 2, col 5): name "my hook!" must match [A-Za-z0-9_-]{1,64}`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "NameTooLong",
			given:   "webhooks:\n  - name: " + strings.Repeat("a", 65) + "\n    url: https://hooks.example.com/a\n",
			wantErr: []string{`webhooks[0].name (line 2, col 5): name`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "DuplicateName",
			given:   hook + "  - name: a\n    url: https://hooks.example.com/b\n",
			wantErr: []string{`webhooks[1].name (line 4, col 5): duplicate webhook name "a" (first used by webhooks[0] on line 2)`},
			wantIs:  config.ErrDuplicateName,
		},
		{
			name:    "Method",
			given:   hook + "    method: CONNECT\n",
			wantErr: []string{`webhooks[0].method (line 4, col 5): method "CONNECT" is not one of POST PUT PATCH DELETE GET`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "URLMissing",
			given:   "webhooks:\n  - name: a\n",
			wantErr: []string{`webhooks[0].url (line 2, col 5): a url is required`},
			wantIs:  config.ErrRequired,
		},
		{
			name:    "URLHTTP",
			given:   "webhooks:\n  - name: a\n    url: http://hooks.example.com/a\n",
			wantErr: []string{`webhooks[0].url (line 3, col 5): `, "http"},
			wantIs:  sender.ErrBadURL,
		},
		{
			name:    "URLPort",
			given:   "webhooks:\n  - name: a\n    url: https://hooks.example.com:8443/a\n",
			wantErr: []string{`webhooks[0].url (line 3, col 5): `, "8443"},
			wantIs:  config.ErrURL,
		},
		{
			name:    "URLUserInfo",
			given:   "webhooks:\n  - name: a\n    url: https://user:hunter2@hooks.example.com/a\n",
			wantErr: []string{`webhooks[0].url (line 3, col 5): `, "user info"},
			wantIs:  config.ErrURL,
		},
		{
			name:    "URLPrivateAddress",
			given:   "webhooks:\n  - name: a\n    url: https://10.0.0.1/a\n",
			wantErr: []string{`webhooks[0].url (line 3, col 5): `},
			wantIs:  sender.ErrUnsafeAddress,
		},
		{
			name:    "URLMetadataAddress",
			given:   "webhooks:\n  - name: a\n    url: https://169.254.169.254/latest\n",
			wantErr: []string{`webhooks[0].url (line 3, col 5): `},
			wantIs:  sender.ErrUnsafeAddress,
		},
		{
			name:    "HeaderEnvMissing",
			given:   hook + "    headers:\n      Authorization: Bearer ${CX_KEY}\n",
			wantErr: []string{`webhooks[0].headers.Authorization (line 5): environment variable CX_KEY is not set`},
			wantIs:  config.ErrEnv,
		},
		{
			name:    "HeaderEnvMalformed",
			given:   hook + "    headers:\n      X-Key: ${CX_KEY\n",
			wantErr: []string{`webhooks[0].headers.X-Key (line 5, col 7): unterminated "${"`},
			wantIs:  config.ErrEnv,
		},
		{
			name:    "HeaderName",
			given:   hook + "    headers:\n      \"Bad Header\": x\n",
			wantErr: []string{`webhooks[0].headers.Bad Header (line 5, col 7): "Bad Header" is not a valid HTTP header name`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "HeaderDuplicateIgnoringCase",
			given:   hook + "    headers:\n      X-Team: a\n      x-team: b\n",
			wantErr: []string{`(line `, `header "x-team" is also given as "X-Team"`},
			wantIs:  config.ErrDuplicateKey,
		},
		{
			name:    "HeaderValueNewline",
			given:   hook + "    headers:\n      X-Team: \"a\\r\\nEvil: 1\"\n",
			wantErr: []string{`webhooks[0].headers.X-Team (line 5, col 7): header value contains a line break`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "Trigger",
			given:   hook + "    triggers:\n      - RequestCreated\n      - RequestExploded\n",
			wantErr: []string{`webhooks[0].triggers[1] (line 6, col 9): `, `"RequestExploded"`},
			wantIs:  renderer.ErrUnknownTrigger,
		},
		{
			name:    "TriggersEmpty",
			given:   hook + "    triggers: []\n",
			wantErr: []string{`webhooks[0].triggers (line 4, col 5): at least one trigger is required`},
			wantIs:  config.ErrRequired,
		},
		{
			name:    "FilterKey",
			given:   hook + "    filters:\n      integration_name: [a]\n      colour: [red]\n",
			wantErr: []string{`webhooks[0].filters.colour (line 6, col 7): unknown filter key "colour"`},
			wantIs:  config.ErrUnknownKey,
		},
		{
			name:    "TemplateBlockScalar",
			given:   hook + "    body_template: |\n      {\n        \"id\": \"{{#if data.id}}\"\n      }\n",
			wantErr: []string{`webhooks[0].body_template (line `},
			wantIs:  config.ErrTemplate,
		},
		{
			name:    "TimeoutZero",
			given:   hook + "    timeout: 0s\n",
			wantErr: []string{`webhooks[0].timeout (line 4, col 5): must be a positive duration of at most 5m0s, got 0s`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "TimeoutTooLong",
			given:   hook + "    timeout: 6m\n",
			wantErr: []string{`webhooks[0].timeout (line 4, col 5): must be a positive duration of at most 5m0s, got 6m0s`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "ConcurrencyZero",
			given:   hook + "    concurrency: 0\n",
			wantErr: []string{`webhooks[0].concurrency (line 4, col 5): 0 is out of range: must be between 1 and 4096`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "ConcurrencyTooHigh",
			given:   hook + "    concurrency: 4097\n",
			wantErr: []string{`webhooks[0].concurrency (line 4, col 5): 4097 is out of range`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "MaxAttemptsZero",
			given:   hook + "    retry: {max_attempts: 0}\n",
			wantErr: []string{`webhooks[0].retry.max_attempts (line 4, col 13): must be at least 1, got 0`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "BackoffOrder",
			given:   hook + "    retry:\n      initial_backoff: 2m\n      max_backoff: 1m\n",
			wantErr: []string{`webhooks[0].retry.initial_backoff (line 5, col 7): initial_backoff 2m0s is greater than max_backoff 1m0s`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "BackoffNegative",
			given:   hook + "    retry:\n      max_backoff: -1s\n",
			wantErr: []string{`webhooks[0].retry.max_backoff (line 5, col 7): must be a positive duration, got -1s`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "FailureRatioZero",
			given:   hook + "    circuit_breaker: {failure_ratio: 0}\n",
			wantErr: []string{`webhooks[0].circuit_breaker.failure_ratio (line 4, col 23): must be in (0, 1], got 0`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "FailureRatioAboveOne",
			given:   hook + "    circuit_breaker: {failure_ratio: 1.5}\n",
			wantErr: []string{`webhooks[0].circuit_breaker.failure_ratio (line 4, col 23): must be in (0, 1], got 1.5`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "OpenForZero",
			given:   hook + "    circuit_breaker: {open_for: 0}\n",
			wantErr: []string{`webhooks[0].circuit_breaker.open_for (line 4, col 23): must be a positive duration`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "MaxEventBytesTooSmall",
			given:   "events:\n  max_event_bytes: 1023\n",
			wantErr: []string{`events.max_event_bytes (line 2, col 3): 1023 is out of range: must be between 1024 (1 KiB) and 67108864 (64 MiB)`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "MaxEventBytesTooLarge",
			given:   "events:\n  max_event_bytes: 67108865\n",
			wantErr: []string{`events.max_event_bytes (line 2, col 3): 67108865 is out of range`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "MaxAgeZero",
			given:   "events:\n  max_age: 0\n",
			wantErr: []string{`events.max_age (line 2, col 3): must be a positive duration, got 0s`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "RetentionZero",
			given:   "store:\n  invocation_retention: 0s\n",
			wantErr: []string{`store.invocation_retention (line 2, col 3): must be a positive duration`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "StreamName",
			given:   "events:\n  stream: \"apono events\"\n",
			wantErr: []string{`events.stream (line 2, col 3): stream name "apono events" must not contain`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "StreamNameWildcard",
			given:   "events:\n  stream: APONO.*\n",
			wantErr: []string{`events.stream (line 2, col 3): stream name`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "SubjectsEmpty",
			given:   "events:\n  subjects: []\n",
			wantErr: []string{`events.subjects (line 2, col 3): at least one subject is required`},
			wantIs:  config.ErrRequired,
		},
		{
			name:    "SubjectInvalid",
			given:   "events:\n  subjects:\n    - apono.events.>\n    - apono..events\n",
			wantErr: []string{`events.subjects[1] (line 4, col 7): subject "apono..events" has an empty token`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "SubjectWildcardNotLast",
			given:   "events:\n  subjects: [\"apono.>.x\"]\n",
			wantErr: []string{`events.subjects[0] (line 2, col 14): subject "apono.>.x": '>' must be the last token`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "AdminListen",
			given:   "admin:\n  listen: localhost\n  token: t\n",
			wantErr: []string{`admin.listen (line 2, col 3): "localhost" is not host:port`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "AdminListenPort",
			given:   "admin:\n  listen: 127.0.0.1:http\n",
			wantErr: []string{`admin.listen (line 2, col 3): invalid port "http"`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "AdminTokenRequiredOffLoopback",
			given:   "admin:\n  listen: 0.0.0.0:8080\n  token: ${HOOKRELAY_ADMIN_TOKEN}\n",
			wantErr: []string{`admin.token (line 3, col 3): an admin token is required when admin.listen (0.0.0.0:8080) is not a loopback address`},
			wantIs:  config.ErrRequired,
		},
		{
			name:    "AdminTokenRequiredAllInterfaces",
			given:   "admin:\n  listen: :8080\n",
			wantErr: []string{`admin.token (line 2, col 3): an admin token is required`},
			wantIs:  config.ErrRequired,
		},
		{
			name:    "NATSURL",
			given:   "nats:\n  url: http://nats.example.com:4222\n",
			wantErr: []string{`nats.url (line 2, col 3): scheme "http" is not one of nats, tls, ws, wss`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "EmbeddedListen",
			given:   "nats:\n  embedded:\n    listen: 4222\n",
			wantErr: []string{`nats.embedded.listen (line 3, col 5): "4222" is not host:port`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "TLSPair",
			given:   "nats:\n  url: tls://nats.example.com:4222\n  tls:\n    cert_file: client.pem\n",
			wantErr: []string{`nats.tls (line 3, col 3): cert_file and key_file must be given together`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "ReplicasWithEmbeddedServer",
			given:   "nats:\n  replicas: 3\n",
			wantErr: []string{`nats.replicas (line 2, col 3): 3 replicas need a JetStream cluster (nats.url); the embedded server is one server`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "ReplicasTooMany",
			given:   "nats:\n  url: nats://a.example.com:4222\n  replicas: 6\n",
			wantErr: []string{`nats.replicas (line 3, col 3): 6 is not between 1 and 5 (leave it unset for streams of one replica)`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "ReplicasNegative",
			given:   "nats:\n  url: nats://a.example.com:4222\n  replicas: -1\n",
			wantErr: []string{`nats.replicas (line 3, col 3): -1 is not between 1 and 5 (leave it unset for streams of one replica)`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "EnvMalformed",
			given:   hook + "    method: ${METHOD:-POST\n",
			wantErr: []string{`webhooks[0].method (line 4, col 13): unterminated "${" (write $$ for a literal $)`},
			wantIs:  config.ErrEnv,
		},
		{
			name:    "EnvBadName",
			given:   "store:\n  path: ${1DB}\n",
			wantErr: []string{`store.path (line 2, col 9): invalid variable name "1DB"`},
			wantIs:  config.ErrEnv,
		},
		{
			name:    "CoralogixRegionAndEndpoint",
			given:   hook + "    coralogix:\n      region: us1\n      endpoint: https://ingress.example.com\n      application_name: a\n      subsystem_name: b\n",
			wantErr: []string{`webhooks[0].coralogix.endpoint (line 6, col 7): give region or endpoint, not both`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "CoralogixNeitherRegionNorEndpoint",
			given:   hook + "    coralogix:\n      application_name: a\n      subsystem_name: b\n",
			wantErr: []string{`webhooks[0].coralogix (line 4, col 5): one of region or endpoint is required`},
			wantIs:  config.ErrRequired,
		},
		{
			name:    "CoralogixRegion",
			given:   hook + "    coralogix:\n      region: us9\n      application_name: a\n      subsystem_name: b\n",
			wantErr: []string{`webhooks[0].coralogix.region (line 5, col 7): unknown region "us9" (valid: us1, us2, us3, eu1, eu2, ap1, ap2, ap3, gov1)`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "CoralogixEndpointHTTP",
			given:   hook + "    coralogix:\n      endpoint: http://ingress.example.com\n      application_name: a\n      subsystem_name: b\n",
			wantErr: []string{`webhooks[0].coralogix.endpoint (line 5, col 7): `, "http"},
			wantIs:  config.ErrURL,
		},
		{
			name:    "CoralogixNames",
			given:   hook + "    coralogix:\n      region: eu2\n      application_name: \"\"\n",
			wantErr: []string{`webhooks[0].coralogix.application_name (line 6, col 7): application_name is required`, `webhooks[0].coralogix.subsystem_name (line 4, col 5): subsystem_name is required`},
			wantIs:  config.ErrRequired,
		},
		{
			name:    "CoralogixMaxBytes",
			given:   hook + "    coralogix:\n      region: eu2\n      application_name: a\n      subsystem_name: b\n      batch:\n        max_bytes: 2000001\n",
			wantErr: []string{`webhooks[0].coralogix.batch.max_bytes (line 9, col 9): 2000001 is out of range: must be between 1 and 2000000`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "CoralogixMaxEvents",
			given:   hook + "    coralogix:\n      region: eu2\n      application_name: a\n      subsystem_name: b\n      batch: {max_events: 0, max_wait: 0s}\n",
			wantErr: []string{`webhooks[0].coralogix.batch.max_events (line 8, col 15): must be at least 1, got 0`, `webhooks[0].coralogix.batch.max_wait (line 8, col 30): must be a positive duration`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "CoralogixSeverityTrigger",
			given:   hook + "    coralogix:\n      region: eu2\n      application_name: a\n      subsystem_name: b\n      severity: {RequestBlah: info}\n",
			wantErr: []string{`webhooks[0].coralogix.severity.RequestBlah (line 8, col 18): `, `"RequestBlah"`},
			wantIs:  renderer.ErrUnknownTrigger,
		},
		{
			name:    "CoralogixSeverityName",
			given:   hook + "    coralogix:\n      region: eu2\n      application_name: a\n      subsystem_name: b\n      severity: {RequestFailed: fatal}\n",
			wantErr: []string{`webhooks[0].coralogix.severity.RequestFailed (line 8, col 18): unknown severity "fatal" (valid: debug, verbose, info, warning, error, critical)`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "ScalarForSequenceOfWebhooks",
			given:   "webhooks: {name: a}\n",
			wantErr: []string{`webhooks (line 1, col 11): expected a sequence, got a mapping`},
			wantIs:  config.ErrType,
		},
		{
			name:    "SequenceForString",
			given:   hook + "    method: [POST]\n",
			wantErr: []string{`webhooks[0].method (line 4, col 13): expected a string, got a sequence`},
			wantIs:  config.ErrType,
		},
		{
			name:    "ScalarForStruct",
			given:   "admin: yes\n",
			wantErr: []string{`admin (line 1, col 8): expected a mapping, got a scalar`},
			wantIs:  config.ErrType,
		},
		{
			name:    "MappingForFilterValues",
			given:   hook + "    filters:\n      permission: {a: b}\n",
			wantErr: []string{`webhooks[0].filters.permission (line 5, col 19): expected a sequence, got a mapping`},
			wantIs:  config.ErrType,
		},
		{
			name:    "MergeOfScalar",
			given:   "x-a: &a 3\nadmin:\n  <<: *a\n",
			wantErr: []string{`admin (line 1, col 6): merge key "<<" needs a mapping, got a scalar`},
			wantIs:  config.ErrType,
		},
		{
			name:    "StreamNameTooLong",
			given:   "events:\n  stream: " + strings.Repeat("S", 256) + "\n",
			wantErr: []string{`events.stream (line 2, col 3): stream name is longer than 255 bytes`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "StreamNameEmpty",
			given:   "events:\n  stream: \"\"\n",
			wantErr: []string{`events.stream (line 2, col 3): a stream name is required`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "SubjectPartialWildcard",
			given:   "events:\n  subjects: [\"apono.ev*\"]\n",
			wantErr: []string{`events.subjects[0] (line 2, col 14): subject "apono.ev*": wildcards must be whole tokens`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "SubjectWhitespace",
			given:   "events:\n  subjects: [\"apono.e v\"]\n",
			wantErr: []string{`events.subjects[0] (line 2, col 14): subject "apono.e v" contains whitespace`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "NATSURLNotURL",
			given:   "nats:\n  url: just-a-host\n",
			wantErr: []string{`nats.url (line 2, col 3): not a NATS URL`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "StorePathEmpty",
			given:   "store:\n  path: \"\"\n",
			wantErr: []string{`store.path (line 2, col 3): must not be empty`},
			wantIs:  config.ErrRequired,
		},
		{
			name:    "CoralogixTemplate",
			given:   hook + "    coralogix:\n      region: eu2\n      application_name: a\n      subsystem_name: b\n      body_template: '{{#each data}}'\n",
			wantErr: []string{`webhooks[0].coralogix.body_template (line 8, col `},
			wantIs:  config.ErrTemplate,
		},
		{
			name:    "CoralogixNameTemplates",
			given:   hook + "    coralogix:\n      region: eu2\n      application_name: \"{{#if x}}\"\n      subsystem_name: \"s-{{> part}}\"\n",
			wantErr: []string{`webhooks[0].coralogix.application_name (line 6, col 26): template line 1: block "if" is never closed`, `webhooks[0].coralogix.subsystem_name (line 7, col 26): template line 1: {{> part}}: partials are not supported`},
			wantIs:  config.ErrTemplate,
		},
		{
			name:    "CoralogixRegionWithoutAuthorization",
			given:   hook + "    coralogix:\n      region: eu2\n      application_name: a\n      subsystem_name: s\n",
			wantErr: []string{`webhooks[0].headers (line 2, col 5): Coralogix (region eu2) needs an Authorization header`},
			wantIs:  config.ErrRequired,
		},
		{
			name:    "CoralogixRegionAuthorizationResolvesEmpty",
			given:   hook + "    headers: {Authorization: \"Bearer ${CX_EMPTY_KEY:-}\"}\n    coralogix:\n      region: eu2\n      application_name: a\n      subsystem_name: s\n",
			wantErr: []string{`webhooks[0].headers.Authorization (line 4, col 15): Authorization resolves to no API key (is its variable set?): Coralogix (region eu2) would refuse every request`},
			wantIs:  config.ErrRequired,
		},
		{
			name:    "CoralogixEndpointWithAPIPath",
			given:   hook + "    headers: {Authorization: Bearer k}\n    coralogix:\n      endpoint: https://ingress.eu2.coralogix.com/logs/v1/singles/\n      application_name: a\n      subsystem_name: s\n",
			wantErr: []string{`webhooks[0].coralogix.endpoint (line 6, col 7): give the ingress base URL without /logs/v1/singles (the relay adds /logs/v1/singles), e.g. https://ingress.eu2.coralogix.com`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:    "TemplatePartial",
			given:   hook + "    body_template: '{\"a\": \"{{> part}}\"}'\n",
			wantErr: []string{`webhooks[0].body_template (line 4, col 28): template line 1: {{> part}}: partials are not supported`},
			wantIs:  config.ErrTemplate,
		},
		{
			name:    "HeaderEnvControlChar",
			given:   hook + "    headers:\n      X-A: \"${AUD_NL}\"\n      X-B: \"v-${AUD_NL:-x}\"\n",
			env:     map[string]string{"AUD_NL": "line1\nline2"},
			wantErr: []string{`webhooks[0].headers.X-A (line 5): environment variable AUD_NL holds a line break or another control character`, `webhooks[0].headers.X-B (line 6): environment variable AUD_NL holds`},
			wantIs:  config.ErrInvalidValue,
		},
		{
			name:  "HeaderEnvAllProblems",
			given: hook + "    headers:\n      X-A: \"${MISSING_A} ${1BAD} ${C-D} ${MISSING_B} ${\"\n",
			wantErr: []string{
				`webhooks[0].headers.X-A (line 5, col 7): invalid variable name "1BAD" in "${...}"; invalid variable name "C-D" in "${...}"; unterminated "${" (write $$ for a literal $)`,
				`webhooks[0].headers.X-A (line 5): environment variable MISSING_A is not set`,
				`webhooks[0].headers.X-A (line 5): environment variable MISSING_B is not set`,
			},
			wantIs: config.ErrEnv,
		},
		{
			name:    "MergeKeyReferringToItsMapping",
			given:   "admin: &a\n  listen: 127.0.0.1:8080\n  <<: *a\n",
			wantErr: []string{`admin (line 3, col 7): merge key "<<" refers back to a mapping that contains it (anchor &a, line `},
			wantIs:  config.ErrAlias,
		},
		{
			name:    "MergeKeyCycleThroughExtension",
			given:   "x-a: &a\n  <<: *a\nadmin:\n  <<: *a\n",
			wantErr: []string{`admin (line 2, col 7): merge key "<<" refers back to a mapping that contains it`},
			wantIs:  config.ErrAlias,
		},
		{
			name:    "MergeSequenceReferringToItself",
			given:   "admin:\n  <<: &s [*s]\n",
			wantErr: []string{`admin (line 2, col 11): merge key "<<" refers back to a sequence that contains it`},
			wantIs:  config.ErrAlias,
		},
		{
			name:    "AliasCycle",
			given:   hook + "    filters: &f {integration_name: *f}\n",
			wantErr: []string{`webhooks[0].filters.integration_name (line 4, col 36): alias *f refers back to a mapping that contains it`},
			wantIs:  config.ErrAlias,
		},
	})
}

// Ensure nested aliases that would expand to a huge config (a "billion
// laughs" file) are refused quickly with one error, while a config that
// merges a shared block into many webhooks still loads.
func TestParse_AliasExpansion(t *testing.T) {
	// Ten levels of ten merges each: 10^10 values if expanded.
	var merges strings.Builder
	merges.WriteString("x-a0: &a0 {timeout: 1s}\n")
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&merges, "x-a%d: &a%d {<<: [%s]}\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 10), ", "))
	}
	merges.WriteString("webhooks:\n  - <<: *a9\n    name: a\n    url: https://hooks.example.com/a\n")

	// Plain aliases, three levels of a thousand: 10^9 filter values.
	var plain strings.Builder
	plain.WriteString("x-s: &s [" + strings.TrimSuffix(strings.Repeat("v, ", 1000), ", ") + "]\nx-f: &f {")
	for i := range 1000 {
		fmt.Fprintf(&plain, "k%d: *s, ", i)
	}
	plain.WriteString("k: *s}\nx-w: &w {name: a, url: https://hooks.example.com/a, filters: *f}\n")
	plain.WriteString("webhooks: [" + strings.TrimSuffix(strings.Repeat("*w, ", 1000), ", ") + "]\n")

	for name, given := range map[string]string{"Merges": merges.String(), "Aliases": plain.String()} {
		t.Run(name, func(t *testing.T) {
			_, err := config.Parse([]byte(given), "config.yaml", config.LoadOptions{Getenv: env(nil)})
			fes := fieldErrors(t, err)
			if len(fes) != 1 || !errors.Is(err, config.ErrAlias) || !strings.Contains(fes[0].Msg, "aliases expand to more than") || fes[0].Line == 0 {
				t.Fatalf("errors = %v", err)
			}
		})
	}

	t.Run("SharedBlock", func(t *testing.T) {
		// Ensure a real use of a shared block, merged into many webhooks, loads.
		var b strings.Builder
		b.WriteString("x-hook: &hook\n  timeout: 20s\n  retry: {max_attempts: 3, initial_backoff: 2s, max_backoff: 1m}\n")
		b.WriteString("  headers:\n    Authorization: Bearer ${API_KEY:-none}\n    X-Team: platform\n")
		b.WriteString("  filters: {integration_type: [postgresql, mysql], approval_type: [manual, automatic]}\n")
		b.WriteString("  body_template: '{\"id\": \"{{ data.id }}\"}'\nwebhooks:\n")
		for i := range 500 {
			fmt.Fprintf(&b, "  - <<: *hook\n    name: hook-%d\n    url: https://hooks.example.com/%d\n", i, i)
		}
		cfg, err := config.Parse([]byte(b.String()), "config.yaml", config.LoadOptions{Getenv: env(nil)})
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		if len(cfg.Webhooks) != 500 || cfg.Webhooks[499].Retry.MaxAttempts != 3 {
			t.Errorf("got %d webhooks, last %+v", len(cfg.Webhooks), cfg.Webhooks[len(cfg.Webhooks)-1])
		}
	})
}

// Ensure the NATS credentials and TLS files must exist and be readable files
// (the NATS client reads them only when "run" connects), except for a client
// command, which never reads them.
func TestParse_NATSFiles(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "user.creds")
	if err := os.WriteFile(good, []byte("creds"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	given := fmt.Sprintf("nats:\n  url: tls://nats.example.com:4222\n  credentials: %s\n  tls:\n    ca_file: %s\n    cert_file: %s\n    key_file: %s\n", missing, dir, good, good)

	_, err := config.Parse([]byte(given), "config.yaml", config.LoadOptions{Getenv: env(nil)})
	fes := fieldErrors(t, err)
	want := []string{
		fmt.Sprintf(`nats.credentials (line 3, col 3): cannot read %q: no such file or directory`, missing),
		fmt.Sprintf(`nats.tls.ca_file (line 5, col 5): cannot read %q: is a directory`, dir),
	}
	if len(fes) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(fes), len(want), err)
	}
	for i, w := range want {
		if got := fes[i].Error(); got != w {
			t.Errorf("error %d = %q, want %q", i, got, w)
		}
	}
	if !errors.Is(err, config.ErrInvalidValue) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(ErrInvalidValue, fs.ErrNotExist) = false: %v", err)
	}

	if _, err := config.Parse([]byte(given), "config.yaml", config.LoadOptions{Getenv: env(nil), Client: true}); err != nil {
		t.Errorf("Parse as a client: %v", err)
	}
}

// Ensure a template error is reported on the file line of the template's
// bad line (the template's own line plus the body_template node's line).
func TestParse_TemplateLine(t *testing.T) {
	given := hook + "    body_template: |\n      {\n        \"a\": \"{{ data.id }}\",\n        \"b\": \"{{/if}}\"\n      }\n"
	_, err := config.Parse([]byte(given), "config.yaml", config.LoadOptions{Getenv: env(nil)})
	fes := fieldErrors(t, err)
	if len(fes) != 1 {
		t.Fatalf("got %d errors, want 1:\n%s", len(fes), err)
	}
	var te *renderer.TemplateError
	if !errors.As(err, &te) {
		t.Fatalf("errors.As(*renderer.TemplateError) = false: %v", err)
	}
	// The bad mustache is on template line 3, col 9; the "|" is on file
	// line 4 and the text is indented by 6 spaces.
	if te.Line != 3 || te.Col != 9 {
		t.Fatalf("template position = %d:%d, want 3:9", te.Line, te.Col)
	}
	if fes[0].Line != 7 || fes[0].Col != 15 {
		t.Errorf("file position = %d:%d, want 7:15", fes[0].Line, fes[0].Col)
	}
	if !strings.Contains(err.Error(), "config.yaml:7:15: webhooks[0].body_template: template line 3: ") {
		t.Errorf("Error() = %q", err)
	}
}

// Ensure a template error in a one-line quoted scalar is placed in that line.
func TestParse_TemplateColumnInline(t *testing.T) {
	given := hook + "    body_template: '{\"b\": \"{{/if}}\"}'\n"
	_, err := config.Parse([]byte(given), "config.yaml", config.LoadOptions{Getenv: env(nil)})
	fes := fieldErrors(t, err)
	if len(fes) != 1 {
		t.Fatalf("got %d errors, want 1:\n%s", len(fes), err)
	}
	// The quote is at col 20, so template col c is file col 20+c.
	var te *renderer.TemplateError
	if !errors.As(err, &te) || te.Line != 1 {
		t.Fatalf("err = %v", err)
	}
	if fes[0].Line != 4 || fes[0].Col != 20+te.Col {
		t.Errorf("file position = %d:%d, want 4:%d", fes[0].Line, fes[0].Col, 20+te.Col)
	}
}

// Ensure a correct config gives no error with allow_unsafe_urls opening
// http, custom ports and loopback addresses (local sinks and tests).
func TestParse_AllowUnsafeURLs(t *testing.T) {
	given := "delivery:\n  allow_unsafe_urls: true\nwebhooks:\n" +
		"  - name: sink\n    url: http://127.0.0.1:9999/logs\n" +
		"  - name: cx\n    coralogix:\n      endpoint: http://localhost:9998\n      application_name: a\n      subsystem_name: b\n"
	cfg, err := config.Parse([]byte(given), "config.yaml", config.LoadOptions{Getenv: env(nil), ResolveDNS: true})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if cx, _ := cfg.Webhook("cx"); cx == nil || cx.Coralogix.BaseURL() != "http://localhost:9998" {
		t.Errorf("cx = %+v", cx)
	}
	// The same URLs are refused without allow_unsafe_urls.
	_, err = config.Parse([]byte(strings.Replace(given, "true", "false", 1)), "config.yaml", config.LoadOptions{Getenv: env(nil)})
	fes := fieldErrors(t, err)
	if len(fes) != 2 || fes[0].Path != "webhooks[0].url" || fes[1].Path != "webhooks[1].coralogix.endpoint" {
		t.Errorf("errors = %+v", fes)
	}
}

// Ensure methods and trigger names are normalized and severities mapped by canonical trigger.
func TestParse_Normalize(t *testing.T) {
	given := hook + "    method: patch\n    triggers: [AccessRequestCreated, Manual]\n    headers: {Authorization: Bearer k}\n" +
		"    coralogix:\n      region: gov1\n      application_name: a\n      subsystem_name: b\n" +
		"      severity: {AccessRequestFailed: Error, RequestCreated: info}\n"
	cfg, err := config.Parse([]byte(given), "config.yaml", config.LoadOptions{Getenv: env(nil)})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	w := cfg.Webhooks[0]
	if w.Method != "PATCH" {
		t.Errorf("Method = %q, want PATCH", w.Method)
	}
	if strings.Join(w.Triggers, ",") != "RequestCreated,Manual" {
		t.Errorf("Triggers = %v", w.Triggers)
	}
	if got := w.Coralogix.Severity; len(got) != 2 || got["RequestFailed"] != "error" || got["RequestCreated"] != "info" {
		t.Errorf("Severity = %v", got)
	}
	if got := w.Coralogix.BaseURL(); got != "https://ingress.gov1.coralogixgov.us" {
		t.Errorf("BaseURL = %q", got)
	}
}

// Ensure accepted variants parse to the expected values.
func TestParse_Valid(t *testing.T) {
	// The NATS files must exist.
	natsFiles := map[string]string{}
	dir := t.TempDir()
	for _, name := range []string{"user.creds", "ca.pem", "c.pem", "k.pem"} {
		natsFiles[name] = filepath.Join(dir, name)
		if err := os.WriteFile(natsFiles[name], []byte(name), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		given string
		check func(*config.Config) bool
	}{
		{
			name:  "LoopbackIPv6WithoutToken",
			given: "admin:\n  listen: \"[::1]:8080\"\n",
			check: func(c *config.Config) bool { return c.Admin.Listen == "[::1]:8080" },
		},
		{
			name:  "LocalhostWithoutToken",
			given: "admin:\n  listen: localhost:0\n",
			check: func(c *config.Config) bool { return c.Admin.Token == "" },
		},
		{
			name:  "Loopback127WithoutToken",
			given: "admin:\n  listen: 127.0.0.2:9000\n",
			check: func(c *config.Config) bool { return true },
		},
		{
			name:  "AnyAddressWithToken",
			given: "admin:\n  listen: 0.0.0.0:8080\n  token: t0ken\n",
			check: func(c *config.Config) bool { return c.Admin.Token == "t0ken" },
		},
		{
			name: "ExternalNATS",
			given: fmt.Sprintf("nats:\n  url: nats://a.example.com:4222, tls://b.example.com:4222\n  credentials: %s\n  tls: {ca_file: %s, cert_file: %s, key_file: %s}\n  embedded: {listen: bogus}\n",
				natsFiles["user.creds"], natsFiles["ca.pem"], natsFiles["c.pem"], natsFiles["k.pem"]),
			check: func(c *config.Config) bool {
				return c.NATS.Credentials == natsFiles["user.creds"] && c.NATS.TLS.KeyFile == natsFiles["k.pem"]
			},
		},
		{
			name:  "ReplicasOnCluster",
			given: "nats:\n  url: nats://a.example.com:4222,nats://b.example.com:4222\n  replicas: 3\n",
			check: func(c *config.Config) bool { return c.NATS.Replicas == 3 },
		},
		{
			name:  "ReplicasUnset",
			given: "nats:\n  url: nats://a.example.com:4222\n",
			check: func(c *config.Config) bool { return c.NATS.Replicas == 0 },
		},
		{
			name:  "HeaderDollarEscape",
			given: hook + "    headers:\n      X-Cost: cost $$10\n      X-Lit: \"literal $${AUD_NOT_SET_X}\"\n",
			check: func(c *config.Config) bool {
				h := c.Webhooks[0].Headers
				return h["X-Cost"] == "cost $$10" && h["X-Lit"] == "literal $${AUD_NOT_SET_X}"
			},
		},
		{
			name:  "SubjectAsString",
			given: "events:\n  subjects: apono.*.events\n",
			check: func(c *config.Config) bool {
				return len(c.Events.Subjects) == 1 && c.Events.Subjects[0] == "apono.*.events"
			},
		},
		{
			name:  "NullBlocksKeepDefaults",
			given: "nats:\nevents:\n  max_age: ~\nwebhooks:\n  - name: a\n    url: https://hooks.example.com/a\n    retry:\n    coralogix: ~\n",
			check: func(c *config.Config) bool {
				w := c.Webhooks[0]
				return c.Events.MaxAge.Std() == config.DefaultMaxAge && w.Coralogix == nil && w.Retry.MaxAttempts == config.DefaultMaxAttempts
			},
		},
		{
			name:  "NullTriggersMeansAll",
			given: hook + "    triggers:\n",
			check: func(c *config.Config) bool { return len(c.Webhooks[0].Triggers) == 7 },
		},
		{
			name:  "InactiveAndOrdered",
			given: hook + "    active: false\n    ordered: true\n    concurrency: 4096\n",
			check: func(c *config.Config) bool {
				w := c.Webhooks[0]
				return !w.Active && w.Ordered && w.EffectiveConcurrency() == 1 && w.Concurrency == 4096
			},
		},
		{
			name:  "CoralogixOnlyWithEndpoint",
			given: "webhooks:\n  - name: cx\n    coralogix:\n      endpoint: https://ingress.example.com/\n      application_name: a\n      subsystem_name: b\n      body_template: '{\"id\": \"{{ data.id }}\"}'\n",
			check: func(c *config.Config) bool {
				cx := c.Webhooks[0].Coralogix
				return c.Webhooks[0].URL == "" && cx.BaseURL() == "https://ingress.example.com" && cx.IsJSON() &&
					cx.Batch.MaxEvents == config.DefaultBatchMaxEvents && cx.Batch.MaxBytes == config.DefaultBatchMaxBytes
			},
		},
		{
			name:  "MergeSequenceFirstWins",
			given: "x-a: &a {timeout: 1s}\nx-b: &b {timeout: 2s, concurrency: 3}\n" + hook + "    <<: [*a, *b]\n",
			check: func(c *config.Config) bool {
				w := c.Webhooks[0]
				return w.Timeout.Std() == time.Second && w.Concurrency == 3
			},
		},
		{
			name:  "TextTemplate",
			given: hook + "    method: put\n    headers: {Content-Type: text/plain}\n    body_template: 'request {{ data.id }} by {{ data.requester.email }}'\n",
			check: func(c *config.Config) bool { return c.Webhooks[0].Method == "PUT" && !c.Webhooks[0].IsJSON() },
		},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			// Ensure the variant parses and holds the expected values.
			cfg, err := config.Parse([]byte(test.given), "config.yaml", config.LoadOptions{Getenv: env(nil)})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !test.check(cfg) {
				t.Errorf("unexpected config: %+v", cfg)
			}
		})
	}
}

// Ensure a region Coralogix webhook whose key variable is not set gets one
// error, that the variable is not set, not a second that the header holds
// no key.
func TestParse_CoralogixUnsetKeyReportedOnce(t *testing.T) {
	given := "webhooks:\n  - name: cx\n    url: https://hooks.example.com/cx\n" +
		"    headers: {Authorization: \"Bearer ${CX_UNSET_KEY}\"}\n    coralogix:\n      region: eu2\n      application_name: a\n      subsystem_name: s\n"
	_, err := config.Parse([]byte(given), "c.yaml", config.LoadOptions{Getenv: env(nil)})
	fes := fieldErrors(t, err)
	if len(fes) != 1 || !errors.Is(&fes[0], config.ErrEnv) || !strings.Contains(fes[0].Msg, "CX_UNSET_KEY is not set") {
		t.Fatalf("errors = %+v; want one saying CX_UNSET_KEY is not set", fes)
	}
}
