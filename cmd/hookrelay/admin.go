package main

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/hookrelay/hookrelay/cmd/hookrelay/ui"
	"github.com/hookrelay/hookrelay/consumer"
	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/renderer"
	"github.com/hookrelay/hookrelay/sender"
	"github.com/hookrelay/hookrelay/store"
)

// maxAdminBody bounds request bodies of the admin API.
const maxAdminBody = 4 << 20

func (d *Daemon) startAdmin() error {
	ln, err := net.Listen("tcp", d.cfg.Admin.Listen)
	if err != nil {
		return depErrorf("admin.listen %s: %w", d.cfg.Admin.Listen, err)
	}
	d.adminLn = ln
	d.adminSrv = &http.Server{
		Handler:           d.adminHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          zap.NewStdLog(d.log.Named("admin")),
	}
	go func() {
		if err := d.adminSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("admin api", zap.Error(err))
		}
	}()
	return nil
}

func (d *Daemon) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", d.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.reg, promhttp.HandlerOpts{}))
	// The admin UI: one page, no secrets in it, so no token; the API calls
	// it makes send the token.
	page := ui.Handler()
	mux.Handle("GET /{$}", page)
	mux.Handle("GET /ui/{$}", page)

	api := http.NewServeMux()
	api.HandleFunc("GET /api/v1/webhooks", d.listWebhooks)
	api.HandleFunc("POST /api/v1/webhooks/{name}/test", d.testWebhook)
	api.HandleFunc("POST /api/v1/webhooks/{name}/invoke", d.invokeWebhook)
	api.HandleFunc("GET /api/v1/info", d.info)
	api.HandleFunc("GET /api/v1/schema", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/schema+json")
		_, _ = w.Write(renderer.Schema())
	})
	api.HandleFunc("GET /api/v1/invocations", d.listInvocations)
	api.HandleFunc("GET /api/v1/invocations/{id}", d.getInvocation)
	api.HandleFunc("GET /api/v1/deadletters", d.listDeadLetters)
	api.HandleFunc("GET /api/v1/deadletters/{id}", d.getDeadLetter)
	api.HandleFunc("POST /api/v1/deadletters/{id}/replay", d.replayDeadLetter)
	api.HandleFunc("POST /api/v1/deadletters/replay", d.replayDeadLetters)
	api.HandleFunc("DELETE /api/v1/deadletters/{id}", d.deleteDeadLetter)
	api.HandleFunc("DELETE /api/v1/deadletters", d.purgeDeadLetters)
	api.HandleFunc("GET /api/v1/rejected", d.listRejected)
	mux.Handle("/api/", d.auth(d.whenReady(api)))
	return mux
}

// whenReady answers 503 while the daemon is starting or stopping: the API's
// handlers need NATS, the store and the relay.
// Close waits, on apiMu, for the calls already past this check (up to 5 s).
func (d *Daemon) whenReady(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.apiMu.RLock()
		defer d.apiMu.RUnlock()
		if !d.ready.Load() {
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, "hookrelay is starting or stopping; try again shortly")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// auth checks the bearer token on /api/*. An empty token is only accepted
// by config validation when the admin API listens on loopback.
func (d *Daemon) auth(next http.Handler) http.Handler {
	token := []byte(d.cfg.Admin.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(token) > 0 {
			// The scheme is case-insensitive (RFC 9110, section 11.1).
			scheme, got, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), token) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="hookrelay"`)
				writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (d *Daemon) readyz(w http.ResponseWriter, _ *http.Request) {
	if !d.ready.Load() || d.nc == nil || !d.nc.IsConnected() {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "not ready: waiting for NATS and the store")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// daemonInfo is GET /api/v1/info: what a client needs to find the rest,
// such as the address of an embedded NATS server that picked its own port.
type daemonInfo struct {
	Version string `json:"version"`
	NATS    struct {
		// URL is where clients reach NATS, without credentials.
		URL      string `json:"url"`
		Embedded bool   `json:"embedded"`
	} `json:"nats"`
	Events struct {
		Stream   string   `json:"stream"`
		Subjects []string `json:"subjects"`
	} `json:"events"`
}

func (d *Daemon) info(w http.ResponseWriter, _ *http.Request) {
	var in daemonInfo
	in.Version = version
	in.NATS.URL = redactURL(d.NATSURL())
	in.NATS.Embedded = d.ns != nil
	in.Events.Stream = d.cfg.Events.Stream
	in.Events.Subjects = d.cfg.Events.Subjects
	writeJSON(w, http.StatusOK, in)
}

// webhookStatus is one row of GET /api/v1/webhooks.
type webhookStatus struct {
	Name        string               `json:"name"`
	Active      bool                 `json:"active"`
	Method      string               `json:"method"`
	URL         string               `json:"url"`
	Triggers    []string             `json:"triggers"`
	Filters     map[string][]string  `json:"filters,omitempty"`
	Ordered     bool                 `json:"ordered"`
	Concurrency int                  `json:"concurrency"`
	Coralogix   bool                 `json:"coralogix,omitempty"`
	Breaker     sender.BreakerStatus `json:"breaker"`
	Counts      consumer.Counts      `json:"counts"`
	DeadLetters int                  `json:"dead_letters"`
}

func (d *Daemon) listWebhooks(w http.ResponseWriter, _ *http.Request) {
	dls, err := d.st.CountDeadLetters()
	if err != nil {
		writeStoreError(w, err)
		return
	}
	out := make([]webhookStatus, 0, len(d.cfg.Webhooks))
	for _, wh := range d.cfg.Webhooks {
		counts, _ := d.rel.Counts(wh.Name)
		out = append(out, webhookStatus{
			Name:        wh.Name,
			Active:      wh.Active,
			Method:      wh.Method,
			URL:         webhookURL(endpoint(&wh).URL),
			Triggers:    wh.Triggers,
			Filters:     wh.Filters,
			Ordered:     wh.Ordered,
			Concurrency: wh.EffectiveConcurrency(),
			Coralogix:   wh.Coralogix != nil,
			Breaker:     d.senders[wh.Name].Breaker(),
			Counts:      counts,
			DeadLetters: dls[wh.Name],
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": out})
}

// testResult is what the Test button shows: the invocation data, as the
// contract has the test endpoint return it, and whether it worked.
type testResult struct {
	store.Invocation
	Success bool   `json:"success"`
	Message string `json:"message"`
}

// testWebhook renders a mock event (or the posted one) with the webhook's
// template and sends it now, outside the pipeline and its breaker.
func (d *Daemon) testWebhook(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	wh, ok := d.cfg.Webhook(name)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no webhook named %q", name))
		return
	}
	body, err := readBody(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if len(bytes.TrimSpace(body)) == 0 {
		t := renderer.RequestCreated
		if len(wh.Triggers) > 0 {
			if pt, err := renderer.ParseTrigger(wh.Triggers[0]); err == nil {
				t = pt
			}
		}
		body = renderer.Sample(t, int(time.Now().UnixNano()%1e6))
	}
	ev, err := renderer.DecodeEvent(body, d.cfg.Events.MaxEventBytes)
	if err != nil {
		writeError(w, http.StatusBadRequest, "test event: "+err.Error())
		return
	}
	// A test that fails, whether the endpoint refused the body or the body
	// did not render, is a result to show like any other: 200, with
	// success false and the reason.
	writeJSON(w, http.StatusOK, d.sendTest(r.Context(), wh, ev, body))
}

func (d *Daemon) sendTest(ctx context.Context, wh *config.Webhook, ev *renderer.Event, raw []byte) testResult {
	name := wh.Name
	did := "test-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	var att sender.Attempt
	var sendErr error
	if cx := d.coralogix[name]; cx != nil {
		entry, err := cx.Entry(ev, raw)
		if err != nil {
			sendErr = renderFailure(err)
		} else {
			res := d.testSenders[name].SendBatch(ctx, []sender.BatchEntry{{ID: did, JSON: entry}})
			if n := len(res.Attempts); n > 0 {
				att = res.Attempts[n-1].Attempt
			}
			if len(res.Errs) > 0 {
				sendErr = res.Errs[0]
			}
		}
	} else {
		rendered, err := d.render(name, ev, raw)
		if err != nil {
			sendErr = renderFailure(err)
		} else {
			att, sendErr = d.testSenders[name].Send(ctx, sender.Delivery{ID: did, Body: rendered})
		}
	}
	if att.StartedAt.IsZero() {
		// Nothing was sent: show where it would have gone.
		ep := endpoint(wh)
		att.StartedAt = time.Now()
		att.Request.Method, att.Request.URL = ep.Method, webhookURL(ep.URL)
	}
	inv := consumer.Invocation(name, did, "test", ev.Type, 1, att, sendErr)
	inv.Test = true
	inv.Outcome = store.OutcomeDelivered
	res := testResult{Success: sendErr == nil, Message: "Test successful"}
	if sendErr != nil {
		inv.Outcome = store.OutcomeFailed
		res.Message = "Test failed: " + sendErr.Error()
	}
	id, err := d.st.Record(ctx, inv)
	if err != nil {
		d.log.Error("recording test invocation", zap.Error(err))
	}
	inv.ID = id
	res.Invocation = inv
	return res
}

// renderFailure says why a webhook's body did not render, without the
// webhook's name, which the test result shows beside it.
func renderFailure(err error) error {
	// Only the outer error: a Coralogix name's error names its field
	// around the RenderError inside.
	if re, ok := err.(*renderer.RenderError); ok && re.Err != nil {
		err = re.Err
	}
	return fmt.Errorf("rendering the body: %w", err)
}

// invokeWebhook queues an access request's data as a Manual event for one
// webhook. The body may be the data object itself or a whole event.
func (d *Daemon) invokeWebhook(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	wh, ok := d.cfg.Webhook(name)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no webhook named %q", name))
		return
	}
	if !wh.Active {
		writeError(w, http.StatusConflict, fmt.Sprintf("webhook %q is not active", name))
		return
	}
	manual := false
	for _, t := range wh.Triggers {
		if pt, err := renderer.ParseTrigger(t); err == nil && pt == renderer.Manual {
			manual = true
		}
	}
	if !manual {
		writeError(w, http.StatusConflict, fmt.Sprintf("webhook %q does not have the Manual trigger", name))
		return
	}
	body, err := readBody(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	payload, err := manualEvent(body, time.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if _, err := renderer.DecodeEvent(payload, d.cfg.Events.MaxEventBytes); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := d.rel.Invoke(r.Context(), name, payload); err != nil {
		writeError(w, http.StatusBadGateway, err.Error())
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"queued": true, "webhook": name, "event_type": "Manual"})
}

// manualEvent wraps an access request's data in a Manual event. A body that
// already is an event (it has "data") keeps its data.
func manualEvent(body []byte, now time.Time) ([]byte, error) {
	const want = "the access request's data, a JSON object"
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, fmt.Errorf("body is empty; want %s", want)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return nil, fmt.Errorf("body is not valid JSON: %v at offset %d", se, se.Offset)
		case errors.As(err, &te):
			return nil, fmt.Errorf("body is not a JSON object: got %s; want %s", jsonValueKind(te.Value), want)
		default:
			return nil, fmt.Errorf("body is not a JSON object: %v; want %s", err, want)
		}
	}
	if obj == nil {
		return nil, fmt.Errorf("body is not a JSON object: got null; want %s", want)
	}
	data := json.RawMessage(body)
	if inner, ok := obj["data"]; ok {
		if _, hasType := obj["event_type"]; hasType || len(obj) <= 3 {
			data = inner
		}
	}
	ts := strconv.FormatFloat(float64(now.UnixMicro())/1e6, 'f', 6, 64)
	return json.Marshal(map[string]any{
		"event_type": "Manual",
		"event_time": json.RawMessage(ts),
		"data":       data,
	})
}

// jsonValueKind names the kind of JSON value a json.UnmarshalTypeError
// reports ("array", "string", "number", "bool").
func jsonValueKind(v string) string {
	switch v {
	case "array":
		return "an array"
	case "bool":
		return "a boolean"
	case "string", "number":
		return "a " + v
	}
	if strings.HasPrefix(v, "number") {
		return "a number"
	}
	return v
}

func (d *Daemon) listInvocations(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := queryInt(q.Get("limit"), 50)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	invs, err := d.st.ListInvocations(store.InvocationFilter{
		Webhook:    q.Get("webhook"),
		Outcome:    firstNonEmpty(q.Get("status"), q.Get("outcome")),
		DeliveryID: q.Get("delivery_id"),
		Before:     q.Get("before"),
		Limit:      limit,
	})
	if err != nil {
		writeStoreError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"invocations": invs})
}

func (d *Daemon) getInvocation(w http.ResponseWriter, r *http.Request) {
	inv, err := d.st.GetInvocation(r.PathValue("id"))
	if err != nil {
		writeStoreError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, inv)
}

func (d *Daemon) listDeadLetters(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := queryInt(q.Get("limit"), 50)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	dls, err := d.st.ListDeadLetters(q.Get("webhook"), limit, q.Get("before"))
	if err != nil {
		writeStoreError(w, err)
		return
	}
	views := make([]deadLetterView, len(dls))
	for i := range dls {
		views[i] = viewDeadLetter(dls[i])
	}
	writeJSON(w, http.StatusOK, map[string]any{"deadletters": views})
}

func (d *Daemon) getDeadLetter(w http.ResponseWriter, r *http.Request) {
	dl, err := d.st.GetDeadLetter(r.PathValue("id"))
	if err != nil {
		writeStoreError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, viewDeadLetter(dl))
}

// deadLetterView is a dead letter as the admin API shows it: the body as
// text, like an invocation's, and the event kept by a render failure as
// JSON.
type deadLetterView struct {
	store.DeadLetter
	Body  string          `json:"body"`
	Event json.RawMessage `json:"event,omitempty"`
}

func viewDeadLetter(dl store.DeadLetter) deadLetterView {
	v := deadLetterView{DeadLetter: dl, Body: string(dl.Body)}
	if json.Valid(dl.Event) {
		v.Event = dl.Event
	}
	v.DeadLetter.Body, v.DeadLetter.Event = nil, nil
	return v
}

func (d *Daemon) replayDeadLetter(w http.ResponseWriter, r *http.Request) {
	dl, err := d.st.GetDeadLetter(r.PathValue("id"))
	if err != nil {
		writeStoreError(w, err)
		return
	}
	if err := d.replay(r.Context(), dl); err != nil {
		status := http.StatusBadGateway
		if errors.Is(err, consumer.ErrUnknownWebhook) || errors.Is(err, errNotReplayable) {
			// Its webhook is no longer configured, or its event still does
			// not render: the dead letter stays.
			status = http.StatusConflict
		}
		writeError(w, status, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"replayed": []string{dl.ID}})
}

// errNotReplayable is a dead letter that cannot be sent as things are: its
// event still fails to render with the webhook's current template, or its
// body is larger than a delivery message may be.
var errNotReplayable = errors.New("dead letter cannot be replayed")

// replay republishes a dead letter and only then removes it, so a crash in
// between at worst replays it twice. A dead letter of the render stage
// keeps its event, which is rendered again with the webhook's current
// template: fix the template, restart, replay.
func (d *Daemon) replay(ctx context.Context, dl store.DeadLetter) error {
	if _, ok := d.cfg.Webhook(dl.Webhook); !ok {
		return fmt.Errorf("%w: %q (dead letter %s)", consumer.ErrUnknownWebhook, dl.Webhook, dl.ID)
	}
	switch {
	case len(dl.Event) > 0:
		body, err := d.rerender(dl.Webhook, dl.Event)
		if err != nil {
			return fmt.Errorf("%w: %s: the event still does not render for webhook %q: %w", errNotReplayable, dl.ID, dl.Webhook, err)
		}
		dl.Body = body
	case strings.HasPrefix(dl.Reason, consumer.ReasonRenderPrefix) && len(dl.Body) == 0:
		return fmt.Errorf("%w: %s: rendering failed and the dead letter has no event to render again", errNotReplayable, dl.ID)
	}
	if err := d.rel.Replay(ctx, dl); err != nil {
		if errors.Is(err, consumer.ErrBodyTooLarge) {
			return fmt.Errorf("%w: %s: %w", errNotReplayable, dl.ID, err)
		}
		return err
	}
	if err := d.st.DeleteDeadLetter(dl.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// replayDeadLetters replays every dead letter of one webhook, or all.
func (d *Daemon) replayDeadLetters(w http.ResponseWriter, r *http.Request) {
	webhook := r.URL.Query().Get("webhook")
	if webhook != "" {
		if _, ok := d.cfg.Webhook(webhook); !ok {
			writeError(w, http.StatusNotFound, fmt.Sprintf("no webhook named %q", webhook))
			return
		}
	}
	// Dead letters that cannot be replayed yet (or whose webhook is gone)
	// are skipped, and listed, so one bad template does not hold back the
	// rest. A second dead letter of a delivery already replayed in this
	// call (an event redelivered after writing it) is removed instead: the
	// delivery goes once.
	skipped := []skippedDeadLetter{}
	replayed := map[string]bool{}
	ids, err := d.eachDeadLetter(webhook, func(dl store.DeadLetter) error {
		if replayed[dl.DeliveryID] {
			return d.st.DeleteDeadLetter(dl.ID)
		}
		err := d.replay(r.Context(), dl)
		if errors.Is(err, errNotReplayable) || errors.Is(err, consumer.ErrUnknownWebhook) {
			skipped = append(skipped, skippedDeadLetter{ID: dl.ID, Error: err.Error()})
			return errSkip
		}
		if err == nil {
			replayed[dl.DeliveryID] = true
		}
		return err
	})
	if err != nil {
		writeJSON(w, http.StatusBadGateway, map[string]any{"replayed": ids, "skipped": skipped, "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"replayed": ids, "skipped": skipped})
}

// skippedDeadLetter is a dead letter a bulk replay left in place, and why.
type skippedDeadLetter struct {
	ID    string `json:"id"`
	Error string `json:"error"`
}

// errSkip tells eachDeadLetter to leave a dead letter out of its result
// and go on.
var errSkip = errors.New("skipped")

func (d *Daemon) deleteDeadLetter(w http.ResponseWriter, r *http.Request) {
	if err := d.st.DeleteDeadLetter(r.PathValue("id")); err != nil {
		writeStoreError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"deleted": []string{r.PathValue("id")}})
}

// purgeDeadLetters deletes every dead letter of one webhook, or all. The
// webhook need not be configured any more: the dead letters of a removed
// webhook can only be purged. A name that is neither configured nor has
// dead letters is most likely misspelt (404).
func (d *Daemon) purgeDeadLetters(w http.ResponseWriter, r *http.Request) {
	webhook := r.URL.Query().Get("webhook")
	ids, err := d.eachDeadLetter(webhook, func(dl store.DeadLetter) error {
		return d.st.DeleteDeadLetter(dl.ID)
	})
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]any{"deleted": ids, "error": err.Error()})
		return
	}
	if _, ok := d.cfg.Webhook(webhook); webhook != "" && !ok && len(ids) == 0 {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no webhook named %q, and no dead letters of one", webhook))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"deleted": ids})
}

// eachDeadLetter applies fn to the dead letters of a webhook (or all) that
// exist when it starts, oldest first, and returns the ids it succeeded on.
// A replay that fails again makes a new dead letter; it is not in the
// snapshot, so it is not replayed again in the same call.
func (d *Daemon) eachDeadLetter(webhook string, fn func(store.DeadLetter) error) ([]string, error) {
	// The snapshot holds ids only; each dead letter (with its body, and
	// perhaps its event) is read when its turn comes.
	var all []string
	before := ""
	for {
		page, err := d.st.ListDeadLetters(webhook, 500, before)
		if err != nil {
			return []string{}, err
		}
		if len(page) == 0 {
			break
		}
		for _, dl := range page {
			all = append(all, dl.ID)
		}
		before = page[len(page)-1].ID
	}
	ids := []string{}
	for i := len(all) - 1; i >= 0; i-- {
		dl, err := d.st.GetDeadLetter(all[i])
		if err == nil {
			err = fn(dl)
		}
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, errSkip) {
			continue // gone meanwhile, or left for later
		}
		if err != nil {
			return ids, err
		}
		ids = append(ids, all[i])
	}
	return ids, nil
}

func (d *Daemon) listRejected(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := queryInt(q.Get("limit"), 50)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	rej, err := d.st.ListRejected(limit, q.Get("before"))
	if err != nil {
		writeStoreError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"rejected": rej})
}

func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxAdminBody+1))
	if err != nil {
		return nil, fmt.Errorf("reading body: %w", err)
	}
	if len(b) > maxAdminBody {
		return nil, fmt.Errorf("body larger than %d bytes", maxAdminBody)
	}
	return b, nil
}

func queryInt(s string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("limit %q: want a whole number ≥ 0", s)
	}
	return n, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func writeStoreError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, store.ErrInvalidFilter):
		writeError(w, http.StatusBadRequest, err.Error())
	default:
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
