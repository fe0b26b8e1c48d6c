package consumer

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// The watcher reads every consumer's state once per WatchInterval: for the
// lag metric, and to spot a consumer stuck behind a message too large for
// its pulls. A pull asks for at most pullBytes, and the server answers a
// pull smaller than the next message with a 409 that nats.go keeps to
// itself and pulls again: the consumer would spin on that message for ever.
// It happens only to a message stored while max_payload was larger
// (max_event_bytes or the server's max_payload lowered since, or a server
// of a cluster allowing more). A consumer with messages waiting, nothing in
// flight and no progress over two looks gets its next message fetched on
// its own, without a byte limit, for the usual handler.

type stuckWatch struct {
	delivered uint64
	still     int
}

func (r *Relay) watchLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.WatchInterval)
	defer t.Stop()
	watches := map[string]*stuckWatch{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var group []jetstream.FetchOpt
		if r.render.pinned() {
			group = append(group, jetstream.FetchPriorityGroup(renderGroup))
		}
		r.watch(ctx, watches, DefaultRendererDurable, r.render.cons, r.render.stray, group...)
		for _, name := range r.order {
			h := r.hooks[name]
			r.watch(ctx, watches, DefaultSenderDurablePfx+name, h.cons, h.stray)
		}
	}
}

// watch reads one consumer's state, sets its lag and, on the second look
// without progress, hands its next message to hand; a message hand refuses
// (the stage is stopping) is handed back.
func (r *Relay) watch(ctx context.Context, watches map[string]*stuckWatch, name string, cons jetstream.Consumer, hand func(jetstream.Msg) bool, fetch ...jetstream.FetchOpt) {
	if cons == nil {
		return
	}
	ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
	info, err := cons.Info(ictx)
	cancel()
	if err != nil {
		return
	}
	r.metrics.lag.WithLabelValues(name).Set(float64(info.NumPending + uint64(info.NumAckPending)))
	w := watches[name]
	if w == nil {
		w = &stuckWatch{}
		watches[name] = w
	}
	if info.NumPending > 0 && info.NumAckPending == 0 && info.Delivered.Stream == w.delivered {
		w.still++
	} else {
		w.still = 0
	}
	w.delivered = info.Delivered.Stream
	if w.still < 2 {
		return
	}
	w.still = 0
	r.log.Error("consumer makes no progress: its next message is probably larger than a pull asks for (stored while max_payload was larger); fetching it on its own",
		zap.String("consumer", name), zap.Uint64("pending", info.NumPending), zap.Uint64("next_stream_seq", info.Delivered.Stream+1))
	batch, err := cons.Fetch(1, append(fetch, jetstream.FetchMaxWait(2*time.Second))...)
	if err != nil {
		r.log.Warn("fetching a stuck consumer's next message", zap.String("consumer", name), zap.Error(err))
		return
	}
	for m := range batch.Messages() {
		if !hand(m) {
			_ = m.Nak()
		}
	}
}
