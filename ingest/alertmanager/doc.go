// Package alertmanager receives Prometheus Alertmanager webhook
// notifications (message version "4") over HTTP and turns every alert into
// an ingest.Event for the correlator.
//
// A Receiver is an http.Handler; cmd mounts it at Receiver.Path on corrd's
// web server. One Receiver serves one configured source name.
//
// # Configuration
//
//	ingest:
//	  alertmanager:
//	    path: /api/v1/ingest/alertmanager   # default
//	    max_body_bytes: 4194304             # default, 4 MiB
//	    auth:                               # optional: bearer or basic, not both
//	      bearer_token_file: /run/secrets/am-webhook
//	      # bearer_token: ...
//	      # username: alertmanager
//	      # password: ... | password_file: ...
//
// Zero values take the defaults: Config.SetDefaults fills them, and New
// applies them to its own copy. Config.Validate reports every problem with
// its path. Secret files are read by New, so a reload picks up new ones.
//
// The matching Alertmanager receiver:
//
//	receivers:
//	  - name: corrd
//	    webhook_configs:
//	      - url: http://corrd:9700/api/v1/ingest/alertmanager
//	        send_resolved: true
//	        http_config:
//	          authorization:
//	            credentials_file: /run/secrets/am-webhook
//
// # Events
//
// Each alert becomes one event of kind "alertmanager":
//
//   - Labels and Annotations: the alert's, sorted; empty values dropped.
//   - Status: from the alert's "status" field, never from endsAt.
//   - EventTime: startsAt when firing, endsAt when resolved; the arrival
//     time when that is absent or zero ("0001-01-01T00:00:00Z").
//   - ArrivalTime: when the request came in, the same for all its alerts.
//   - Fingerprint: the alert's "fingerprint" when it is 16 hex digits, else
//     ingest.FingerprintOf(labels); both are Alertmanager's own value.
//   - Severity: the "severity" label by ingest.ParseSeverity. A spelling it
//     does not know gives SeverityUnknown and is counted in
//     corrd_ingest_alertmanager_unknown_severity_total; the alert is kept.
//   - Raw: the alert's own JSON, at most ingest.MaxRaw bytes.
//
// The message's group fields (groupKey, groupLabels, commonLabels...) are
// not read: the correlator does its own grouping.
//
// # Answers
//
// A message is taken or refused as a whole; nothing of a refused message
// reaches the correlator.
//
//	200  every alert accepted: {"status":"success","accepted":N}
//	400  not JSON, version other than "4", no alerts, an alert without
//	     labels, an unknown status, a startsAt or endsAt not RFC 3339
//	401  auth configured and credentials missing or wrong (WWW-Authenticate)
//	405  not POST (Allow: POST)
//	413  body over max_body_bytes
//	415  a Content-Type that is not JSON (none at all is accepted)
//	500  the correlator failed otherwise
//	503  the correlator queue is full, or the request was cancelled
//	     (Retry-After); Alertmanager retries 5xx and gives up on other 4xx
//
// Error bodies are {"status":"error","error":"..."} naming the reason, and
// the alert's index where there is one.
//
// # Metrics
//
//	corrd_ingest_alertmanager_requests_total{source,code}
//	corrd_ingest_alertmanager_request_duration_seconds{source}
//	corrd_ingest_alertmanager_alerts_per_request{source}  (accepted requests)
//	corrd_ingest_alertmanager_unknown_severity_total{source}
//	corrd_ingest_alertmanager_truncated_alerts_total{source}  (Alertmanager's max_alerts)
//
// and the shared ingest.Metrics: Received counts accepted alerts; Rejected
// counts refused requests (not alerts) by reason: method_not_allowed,
// unsupported_media_type, unauthorized, too_large, read_error,
// invalid_json, bad_version, no_alerts, no_labels, bad_status, bad_time,
// backpressure, canceled, submit_error. Refusals are also logged, at most
// 5 lines per 10 seconds.
//
// # Performance
//
// Messages are parsed in one pass by a small JSON parser (parse.go,
// decode.go) that reads them exactly as encoding/json would read them into
// the structs of decode_test.go; the FuzzDecode target compares the two.
// On a 100-alert message it is several times faster than encoding/json,
// with 3 allocations per alert (its label text, its label slice, its Raw)
// and a few per request. Body buffers and parser state are pooled.
//
//	go test -run XXX -bench . ./ingest/alertmanager/
package alertmanager
