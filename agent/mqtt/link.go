// SPDX-License-Identifier: Apache-2.0

package mqtt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/jonboulle/clockwork"

	"github.com/camnode/camnode/agent"
)

// Node is what the link needs from the agent (*agent.Agent implements it).
type Node interface {
	Status() agent.Status
	Subscribe() (<-chan agent.Status, func())
	SetPrivacy(ctx context.Context, on bool, src agent.Source, actor string) (agent.Status, error)
}

// Config configures a Link.
type Config struct {
	Client ClientConfig
	// Node is the node id (the second topic level); Prefix the first
	// (default "camnode").
	Node, Prefix string
	Room         string // for Home Assistant's suggested area
	Version      string
	HADiscovery  bool
	// Outbox, if set, is drained to Topics.Audit; records leave it when
	// the hub acknowledges them on Topics.AuditAck.
	Outbox *Outbox
	// AuditResendMin and AuditResendMax bound the wait before records the
	// broker acknowledged but the hub did not are published again: the
	// wait starts at AuditResendMin (default 30s), doubles after each
	// round without any acknowledgement, up to AuditResendMax (default
	// 10m).
	AuditResendMin, AuditResendMax time.Duration
	// StatusMinGap is the least time between two status publishes caused
	// by the outbox or the link changing (default 1s); the agent's own
	// changes are published at once.
	StatusMinGap time.Duration
	// OnLinkStatus, if set, receives the link's state at every change
	// (the node wires it to agent.Agent.SetLink). It must not block.
	OnLinkStatus func(agent.LinkStatus)
	// Clock drives the connect backoff, the resend rounds and the status
	// timers (default the real clock).
	Clock clockwork.Clock
	// AckTimeout bounds the wait for a PUBACK (default 10s).
	AckTimeout time.Duration
	// StatusEvery republishes the status for uptime and temperature
	// (default 60s).
	StatusEvery time.Duration
	// CommandTimeout bounds one privacy change (default 30s).
	CommandTimeout time.Duration
	// CommandIDs is the file that remembers executed command ids across
	// restarts (CommandIDsFile in the node's state dir); "" keeps them in
	// memory only.
	CommandIDs string
	// Sys is the file system the SoC temperature is read from (nil: none)
	// and ThermalPath the file in it (default DefaultThermalPath).
	Sys         fs.FS
	ThermalPath string
	Logger      *slog.Logger
	Now         func() time.Time
}

// Link is a node's connection to the hub.
type Link struct {
	cfg    Config
	node   Node
	log    *slog.Logger
	topics Topics
	client paho.Client

	connected chan struct{} // OnConnect -> publisher, cap 1
	cmds      chan []byte   // command payloads -> worker
	answers   chan answer   // commands answered without executing -> answerer
	drain     chan struct{} // publisher, after each connect -> drainer, cap 1
	acks      chan []byte   // audit acknowledgements -> ackWorker
	changed   chan struct{} // the link's state changed -> publisher, cap 1
	clock     clockwork.Clock

	ids *commandIDs // the command worker's

	mu         sync.Mutex
	unanswered int // commands dropped without an answer (answer queue full)

	attempts atomic.Int64 // connection attempts paho started
	reportMu sync.Mutex   // serialises reports, so the last one reported is the newest
	stMu     sync.Mutex   // guards the link state below
	st       agent.LinkStatus
	fault    string    // configuration fault found by NewLink
	lastLog  time.Time // of the last connect failure logged
	logged   string    // its error
}

// Queue depths: commands waiting to be executed, commands waiting for an
// answer that executes nothing ("busy", retained refused), and the hub's
// audit acknowledgements.
const (
	cmdQueue    = 32
	answerQueue = 256
	ackQueue    = 64
)

// Link states (agent.LinkStatus.State).
const (
	LinkConnecting = "connecting" // an attempt is under way
	LinkConnected  = "connected"
	LinkDown       = "down"    // the last attempt failed or the connection was lost; retrying
	LinkStopped    = "stopped" // Run returned
)

// connectBackoffMin is the wait after the first failed connect; it doubles
// up to MaxReconnectInterval.
const connectBackoffMin = time.Second

// NewLink checks cfg and builds the client. It does not connect: Run does.
func NewLink(cfg Config, node Node) (*Link, error) {
	if node == nil {
		return nil, errors.New("mqtt: no node")
	}
	if !topicLevelOK(cfg.Node) {
		return nil, fmt.Errorf("mqtt: node id %q cannot be a topic level", cfg.Node)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "camnode"
	}
	if !topicLevelOK(cfg.Prefix) {
		return nil, fmt.Errorf("mqtt: topic prefix %q cannot be a topic level", cfg.Prefix)
	}
	if cfg.Client.ClientID == "" {
		cfg.Client.ClientID = cfg.Node
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = 10 * time.Second
	}
	if cfg.StatusEvery <= 0 {
		cfg.StatusEvery = time.Minute
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = 30 * time.Second
	}
	if cfg.ThermalPath == "" {
		cfg.ThermalPath = DefaultThermalPath
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AuditResendMin <= 0 {
		cfg.AuditResendMin = 30 * time.Second
	}
	if cfg.AuditResendMax < cfg.AuditResendMin {
		cfg.AuditResendMax = max(10*time.Minute, cfg.AuditResendMin)
	}
	if cfg.StatusMinGap <= 0 {
		cfg.StatusMinGap = time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	l := &Link{
		cfg: cfg, node: node, log: cfg.Logger,
		topics:    NodeTopics(cfg.Prefix, cfg.Node),
		connected: make(chan struct{}, 1),
		cmds:      make(chan []byte, cmdQueue),
		answers:   make(chan answer, answerQueue),
		drain:     make(chan struct{}, 1),
		ids:       openCommandIDs(cfg.CommandIDs, cfg.Now()),
		acks:      make(chan []byte, ackQueue),
		changed:   make(chan struct{}, 1),
		clock:     cfg.Clock,
		st:        agent.LinkStatus{State: LinkConnecting},
	}
	if err := l.ids.broken; err != nil {
		l.log.Error("mqtt: command id memory unreadable: privacy off commands are refused until every command it could hold is stale (privacy on still works)",
			"err", err, "until", l.ids.brokenAt.Add(2*MaxCommandAge))
	}
	opts, err := cfg.Client.Options()
	if err != nil {
		return nil, err
	}
	if cn, ok, err := cfg.Client.CertCN(); err != nil {
		return nil, err
	} else if ok && cn != cfg.Node {
		// The broker's ACL (%u = CN) would drop everything this node
		// publishes while acknowledging it: say so, loudly.
		l.fault = fmt.Sprintf("client certificate %s has CN %q, not the node id %q: the broker's ACL drops this node's status and audit records",
			cfg.Client.CertFile, cn, cfg.Node)
		l.st.Fault = l.fault
		l.log.Error("mqtt: "+l.fault, "cert", cfg.Client.CertFile)
	}
	// The first connect is Run's own loop (paho's ConnectRetry retries at
	// a fixed interval and reports nothing); paho reconnects after a lost
	// connection with its own backoff, and every failed attempt of either
	// is reported through the notification handler.
	opts.SetConnectRetry(false)
	opts.SetWill(l.topics.Availability, "offline", 1, true)
	opts.SetOnConnectHandler(func(paho.Client) {
		l.setConnected()
		poke(l.connected)
	})
	opts.SetConnectionLostHandler(func(_ paho.Client, err error) {
		l.log.Warn("mqtt: connection lost", "err", err)
		l.update(func(s *agent.LinkStatus) {
			s.State = LinkDown
			s.LastError, s.LastErrorAt = "connection lost: "+err.Error(), l.clock.Now()
		})
	})
	opts.SetReconnectingHandler(func(_ paho.Client, o *paho.ClientOptions) {
		l.log.Info("mqtt: reconnecting")
	})
	opts.SetConnectionNotificationHandler(func(_ paho.Client, n paho.ConnectionNotification) {
		switch n := n.(type) {
		case paho.ConnectionNotificationConnecting:
			l.attempts.Add(1)
			l.update(func(s *agent.LinkStatus) {
				if s.State != LinkConnected {
					s.State = LinkConnecting
				}
			})
		case paho.ConnectionNotificationFailed:
			l.connectFailed(n.Reason)
		}
	})
	l.client = paho.NewClient(opts)
	return l, nil
}

// LinkStatus returns the link's state now.
func (l *Link) LinkStatus() agent.LinkStatus {
	l.stMu.Lock()
	s := l.st
	l.stMu.Unlock()
	if ob := l.cfg.Outbox; ob != nil {
		obs := ob.Stats()
		s.AuditUnacked, s.AuditOldest, s.AuditWitnessed = obs.Pending, obs.Oldest, obs.Witnessed
	}
	return s
}

// update changes the link's state and reports it.
func (l *Link) update(f func(*agent.LinkStatus)) {
	l.stMu.Lock()
	f(&l.st)
	l.st.Fault = l.fault
	l.stMu.Unlock()
	l.report()
}

// report hands the link's state to OnLinkStatus and asks the publisher to
// republish the status.
func (l *Link) report() {
	if l.cfg.OnLinkStatus != nil {
		l.reportMu.Lock()
		l.cfg.OnLinkStatus(l.LinkStatus())
		l.reportMu.Unlock()
	}
	poke(l.changed)
}

func (l *Link) setConnected() {
	l.update(func(s *agent.LinkStatus) {
		s.State, s.Failures, s.NextAttempt = LinkConnected, 0, time.Time{}
	})
}

// connectFailed records a failed connection attempt, explained, and logs
// it: the first failure, every change of cause, then at each doubling of
// the failure count or at least every 5 minutes, so a broker that stays
// away for a day does not fill the journal.
func (l *Link) connectFailed(err error) {
	if err == nil {
		return
	}
	msg := l.cfg.Client.ExplainConnectError(err)
	now := l.clock.Now()
	l.stMu.Lock()
	l.st.State = LinkDown
	l.st.NextAttempt = time.Time{} // connectFirst sets it; paho's reconnect does not say
	l.st.Failures++
	l.st.LastError, l.st.LastErrorAt = msg, now
	n := l.st.Failures
	doLog := msg != l.logged || n&(n-1) == 0 || now.Sub(l.lastLog) >= 5*time.Minute
	if doLog {
		l.logged, l.lastLog = msg, now
	}
	l.stMu.Unlock()
	if doLog {
		l.log.Error("mqtt: cannot connect to the broker", "err", msg, "failures", n)
	}
	l.report()
}

// connectFirst connects, retrying with a backoff from connectBackoffMin
// doubling to MaxReconnectInterval, until connected or ctx is done. After
// that paho reconnects by itself.
func (l *Link) connectFirst(ctx context.Context) {
	delay := connectBackoffMin
	for ctx.Err() == nil {
		started := l.attempts.Load()
		t := l.client.Connect()
		select {
		case <-t.Done():
		case <-ctx.Done():
			return
		}
		if t.Error() == nil {
			return
		}
		if l.attempts.Load() == started {
			// No attempt was made: paho completes a failed attempt's
			// token before it marks itself disconnected, and refuses a
			// Connect in between. Not a failure: try again shortly.
			select {
			case <-time.After(5 * time.Millisecond):
			case <-ctx.Done():
				return
			}
			continue
		}
		// The notification handler has recorded and logged the failure.
		// The timer exists before the next attempt's time is announced.
		wait := l.clock.After(delay)
		l.update(func(s *agent.LinkStatus) { s.NextAttempt = l.clock.Now().Add(delay) })
		select {
		case <-wait:
		case <-ctx.Done():
			return
		}
		delay = min(2*delay, MaxReconnectInterval)
	}
}

// Topics returns the node's topics.
func (l *Link) Topics() Topics { return l.topics }

func topicLevelOK(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Run connects (retrying forever, backoff from 1 s capped at 30 s) and
// serves until ctx is done, then publishes the node's last status and
// "offline" and disconnects. A node stopping cleanly cancels ctx only
// after the agent halted, so the retained status shows the halted node.
func (l *Link) Run(ctx context.Context) error {
	l.report()
	var wg sync.WaitGroup
	wg.Go(func() { l.connectFirst(ctx) })
	wg.Go(func() { l.commandWorker(ctx) })
	wg.Go(func() { l.answerWorker(ctx) })
	wg.Go(func() { l.ackWorker(ctx) })
	if l.cfg.Outbox != nil {
		wg.Go(func() { l.drainOutbox(ctx) })
	}
	l.publisher(ctx)
	wg.Wait()
	if l.client.IsConnectionOpen() {
		last := ""
		l.publishStatus(l.node.Status(), &last)
		t := l.client.Publish(l.topics.Availability, 1, true, "offline")
		t.WaitTimeout(2 * time.Second)
	}
	l.client.Disconnect(500)
	l.update(func(s *agent.LinkStatus) { s.State, s.NextAttempt = LinkStopped, time.Time{} })
	return nil
}

// publisher owns the retained topics: on every connect it subscribes and
// announces; on every status change it republishes.
//
// Changes of the outbox (records queued, the hub's acknowledgements) and of
// the link are published too, promptly but at most once per StatusMinGap.
func (l *Link) publisher(ctx context.Context) {
	stCh, cancel := l.node.Subscribe()
	defer cancel()
	tick := l.clock.NewTicker(l.cfg.StatusEvery)
	defer tick.Stop()
	var obChanged <-chan struct{}
	if l.cfg.Outbox != nil {
		obChanged = l.cfg.Outbox.Changed()
	}
	var (
		lastPrivacy string
		lastPub     time.Time
		dirty       bool
		gap         clockwork.Timer
		gapC        <-chan time.Time
	)
	publish := func(st agent.Status) {
		if gap != nil {
			gap.Stop()
			gap, gapC = nil, nil
		}
		dirty = false
		if l.publishStatus(st, &lastPrivacy) {
			lastPub = l.clock.Now()
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.connected:
			l.onConnect()
			poke(l.drain)
			lastPrivacy = ""
			publish(l.node.Status())
		case st := <-stCh:
			publish(st)
		case <-tick.Chan():
			publish(l.node.Status())
		case <-obChanged:
			l.report()
		case <-l.changed:
			dirty = true
		case <-gapC:
			gap, gapC = nil, nil
			publish(l.node.Status())
		}
		if dirty && gapC == nil {
			if wait := l.cfg.StatusMinGap - l.clock.Since(lastPub); wait > 0 {
				gap = l.clock.NewTimer(wait)
				gapC = gap.Chan()
			} else {
				publish(l.node.Status())
			}
		}
	}
}

func (l *Link) onConnect() {
	if l.cfg.Client.Insecure {
		l.log.Warn("mqtt: CONNECTED WITHOUT TLS (mqtt.insecure = true): status, audit and commands are in plaintext and unauthenticated")
	}
	l.log.Info("mqtt: connected", "node", l.cfg.Node)
	// Discovery is retained, so Home Assistant finds it after a restart
	// without the node reading homeassistant/status.
	subs := map[string]byte{l.topics.Command: 1}
	if l.cfg.Outbox != nil {
		subs[l.topics.AuditAck] = 1
	}
	t := l.client.SubscribeMultiple(subs, l.onMessage)
	if !t.WaitTimeout(l.cfg.AckTimeout) || t.Error() != nil {
		l.log.Error("mqtt: subscribe failed; commands will not arrive until the next reconnect", "err", t.Error())
	}
	l.pub(l.topics.Availability, true, []byte("online"))
	l.announce()
}

func (l *Link) announce() {
	if !l.cfg.HADiscovery {
		return
	}
	for _, d := range DiscoveryMessages(l.topics, l.cfg.Node, l.cfg.Room, l.cfg.Version) {
		l.pub(d.Topic, true, d.Payload)
	}
}

// onMessage runs on paho's goroutine: it only dispatches.
func (l *Link) onMessage(_ paho.Client, m paho.Message) {
	l.dispatch(m.Topic(), m.Payload(), m.Retained())
}

// answer is a reply to a command that is not executed.
type answer struct{ id, result, reason string }

// dispatch routes one incoming message by topic. It never blocks and never
// executes anything: an audit acknowledgement is queued for the ack
// worker; a command is queued for the command worker, or
// answered (by the answer worker) without being executed when it carries
// the retain flag or when the queue is full. Every command gets one result.
func (l *Link) dispatch(topic string, payload []byte, retained bool) {
	if topic == l.topics.AuditAck {
		select {
		case l.acks <- payload:
		default:
			// Not lost: the records stay in the outbox, are published
			// again, and the hub acknowledges them again.
			l.log.Warn("mqtt: audit acknowledgement queue full; acknowledgement dropped")
		}
		return
	}
	if topic != l.topics.Command {
		return // nothing else is subscribed
	}
	if retained {
		// The broker sends a retained message to every new subscription:
		// a retained command would replay at every reconnect, overriding
		// whatever happened locally since.
		id := CommandID(payload)
		l.log.Warn("mqtt: retained command refused, not executed; clear it on the broker", "id", id, "topic", topic)
		l.answer(answer{id, ResultError, "retained command refused, not executed: commands must be published without the retain flag (clear it: publish an empty retained message on " + topic + ")"})
		return
	}
	select {
	case l.cmds <- payload:
	default:
		id := CommandID(payload)
		l.log.Warn("mqtt: command queue full; answered busy, not executed", "id", id)
		l.answer(answer{id, ResultBusy, fmt.Sprintf("node busy (%d commands waiting): not executed; send it again later", cmdQueue)})
	}
}

// answer queues a for the answer worker, never blocking.
func (l *Link) answer(a answer) {
	select {
	case l.answers <- a:
	default:
		l.mu.Lock()
		l.unanswered++
		n := l.unanswered
		l.mu.Unlock()
		if n&(n-1) == 0 { // 1, 2, 4, 8, ...: a flood cannot flood the log
			l.log.Error("mqtt: command dropped without an answer (flood: the answer queue is full)", "id", a.id, "dropped_total", n)
		}
	}
}

// ackWorker removes the records the hub acknowledged from the outbox.
func (l *Link) ackWorker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-l.acks:
			a, err := ParseAuditAck(p)
			if err != nil {
				l.log.Warn("mqtt: bad audit acknowledgement ignored", "err", err)
				continue
			}
			if l.cfg.Outbox == nil {
				continue
			}
			for _, id := range a.IDs {
				if err := l.cfg.Outbox.Ack(id); err != nil {
					l.log.Error("mqtt: audit outbox", "err", err)
				}
			}
			if a.Head != nil {
				if err := l.cfg.Outbox.Witness(*a.Head); err != nil {
					l.log.Error("mqtt: audit witness", "err", err)
				}
			}
		}
	}
}

// publishStatus publishes st, with the link's state, and the privacy mode
// when it changed; it reports whether the status was published.
func (l *Link) publishStatus(st agent.Status, lastPrivacy *string) bool {
	if !l.client.IsConnectionOpen() {
		return false // republished on the next connect
	}
	var ob OutboxStats
	if l.cfg.Outbox != nil {
		ob = l.cfg.Outbox.Stats()
	}
	ls := l.LinkStatus()
	p := MakeStatus(st.WithLink(&ls), l.cfg.Now(), ReadSoCTemp(l.cfg.Sys, l.cfg.ThermalPath), ob)
	b, err := json.Marshal(p)
	if err != nil {
		l.log.Error("mqtt: status", "err", err)
		return false
	}
	ok := l.pub(l.topics.Status, true, b)
	priv := "off"
	if st.Privacy {
		priv = "on"
	}
	if priv != *lastPrivacy && l.pub(l.topics.Privacy, true, []byte(priv)) {
		*lastPrivacy = priv
	}
	return ok
}

// pub publishes at QoS 1 and waits for the PUBACK, bounded.
func (l *Link) pub(topic string, retain bool, payload []byte) bool {
	t := l.client.Publish(topic, 1, retain, payload)
	if !t.WaitTimeout(l.cfg.AckTimeout) {
		l.log.Warn("mqtt: publish not acknowledged in time", "topic", topic)
		return false
	}
	if err := t.Error(); err != nil {
		l.log.Warn("mqtt: publish failed", "topic", topic, "err", err)
		return false
	}
	return true
}

// commandWorker executes commands one at a time, off paho's goroutines.
func (l *Link) commandWorker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case payload := <-l.cmds:
			l.publishResult(l.execute(ctx, payload))
		}
	}
}

// answerWorker publishes the answers to commands that are not executed.
func (l *Link) answerWorker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case a := <-l.answers:
			l.publishResult(l.result(a.id, a.result, a.reason))
		}
	}
}

func (l *Link) publishResult(res Result) {
	b, _ := json.Marshal(res)
	if !l.pub(l.topics.Result, false, b) {
		l.log.Warn("mqtt: command result not delivered", "id", res.ID, "result", res.Result)
	}
}

// result is a Result with the node's current status.
func (l *Link) result(id, result, reason string) Result {
	st := l.node.Status()
	return Result{ID: id, Result: result, Reason: reason, Status: &st}
}

// execute runs one command payload. Bad input changes nothing; a command
// id seen before is answered with its first result and not executed.
func (l *Link) execute(ctx context.Context, payload []byte) Result {
	now := l.cfg.Now()
	cmd, err := ParseCommand(payload, now)
	if err != nil {
		id := CommandID(payload) // for the answer only
		l.log.Warn("mqtt: bad command refused", "id", id, "err", err)
		return l.result(id, ResultError, "bad command: "+err.Error())
	}
	if first, ok := l.ids.lookup(cmd.ID, now); ok {
		if first.Result == resultPending { // its write failed after the change
			first.Result, first.Reason = ResultError, "the first execution of this id did not complete; it is not executed again"
		}
		l.log.Warn("mqtt: repeated command id: answered with its first result, not executed", "id", cmd.ID, "privacy", cmd.Privacy, "actor", cmd.Actor, "result", first.Result)
		return l.result(cmd.ID, first.Result, first.Reason)
	}
	entry := idEntry{ID: cmd.ID, Expires: cmd.IssuedAt.Add(MaxCommandAge)}
	if cmd.Privacy == "off" {
		// Remember the id before acting: a replay must never turn the
		// camera on, not even after a crash in the middle of the change.
		entry.Result = resultPending
		if err := l.ids.record(entry, now); err != nil {
			res := ResultError
			if errors.Is(err, errIDsFull) {
				res = ResultBusy
			}
			l.log.Warn("mqtt: privacy off not executed: its id cannot be remembered", "id", cmd.ID, "actor", cmd.Actor, "result", res, "err", err)
			return l.result(cmd.ID, res, "privacy off not executed: "+err.Error()+" (privacy on is still executed)")
		}
	}
	ctx, cancel := context.WithTimeout(ctx, l.cfg.CommandTimeout)
	defer cancel()
	st, err := l.node.SetPrivacy(ctx, cmd.Privacy == "on", agent.SourceHub, cmd.Actor)
	res := Result{ID: cmd.ID, Result: ResultAccepted, Status: &st}
	var ref *agent.RefusedError
	switch {
	case errors.As(err, &ref):
		res.Result, res.Reason = ResultRefused, ref.Reason
	case err != nil:
		res.Result, res.Reason = ResultError, err.Error()
	}
	entry.Result, entry.Reason = res.Result, res.Reason
	if err := l.ids.record(entry, l.cfg.Now()); err != nil {
		// "on" only (an "off" has its entry already): safe to repeat.
		l.log.Warn("mqtt: command id not remembered; a repeat would be executed again", "id", cmd.ID, "err", err)
	}
	l.log.Info("mqtt: command", "id", cmd.ID, "privacy", cmd.Privacy, "actor", cmd.Actor, "result", res.Result, "reason", res.Reason)
	return res
}

// drainOutbox publishes the outbox's unsent audit records at QoS 1 and
// marks each sent after its PUBACK. Records stay in the outbox until the
// hub acknowledges them (ackWorker); those sent but not acknowledged are
// published again in rounds: after AuditResendMin, doubling while no
// acknowledgement comes, up to AuditResendMax. A restart sends everything
// pending once more (the sent marks are not persisted).
func (l *Link) drainOutbox(ctx context.Context) {
	ob := l.cfg.Outbox
	retry := l.clock.NewTicker(2 * time.Second)
	defer retry.Stop()
	delay := l.cfg.AuditResendMin
	var (
		resend  clockwork.Timer
		resendC <-chan time.Time
	)
	defer func() {
		if resend != nil {
			resend.Stop()
		}
	}()
	for {
		for l.client.IsConnectionOpen() && ctx.Err() == nil {
			batch := ob.Unsent(64)
			if len(batch) == 0 {
				break
			}
			if !l.publishBatch(batch) {
				break
			}
		}
		if resendC == nil && ob.AwaitingAck() {
			resend = l.clock.NewTimer(delay)
			resendC = resend.Chan()
		}
		select {
		case <-ctx.Done():
			return
		case <-ob.Wake():
		case <-l.drain:
		case <-retry.Chan():
		case <-ob.Acked():
			delay = l.cfg.AuditResendMin // the hub is there
		case <-resendC:
			resend, resendC = nil, nil
			if !l.client.IsConnectionOpen() {
				continue // the next round starts once connected
			}
			n := ob.Resend()
			l.log.Info("mqtt: audit records not acknowledged by the hub; publishing them again", "records", n, "waited", delay)
			delay = min(2*delay, l.cfg.AuditResendMax)
		}
	}
}

// auditPayload is what is published for rec: the same bytes as its line in
// the node's audit chain (encoding/json is deterministic and a record
// round-trips through the outbox unchanged; TestAuditPayloadIsTheChainLine),
// so that the hub can check the chain's hashes on its copy.
func auditPayload(rec agent.AuditRecord) ([]byte, error) { return json.Marshal(rec) }

func (l *Link) publishBatch(batch []agent.AuditRecord) bool {
	tokens := make([]paho.Token, len(batch))
	for i, rec := range batch {
		b, err := auditPayload(rec)
		if err != nil {
			l.log.Error("mqtt: audit record", "err", err)
			return false
		}
		tokens[i] = l.client.Publish(l.topics.Audit, 1, false, b)
	}
	ok := true
	for i, t := range tokens {
		if !t.WaitTimeout(l.cfg.AckTimeout) || t.Error() != nil {
			ok = false
			continue
		}
		l.cfg.Outbox.MarkSent(batch[i].ID)
	}
	return ok
}
