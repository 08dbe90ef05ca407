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
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

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
	// Outbox, if set, is drained to Topics.Audit.
	Outbox *Outbox
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

	ids *commandIDs // the command worker's

	mu         sync.Mutex
	unanswered int // commands dropped without an answer (answer queue full)
}

// Queue depths: commands waiting to be executed, and commands waiting for
// an answer that executes nothing ("busy", retained refused).
const (
	cmdQueue    = 32
	answerQueue = 256
)

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
	l := &Link{
		cfg: cfg, node: node, log: cfg.Logger,
		topics:    NodeTopics(cfg.Prefix, cfg.Node),
		connected: make(chan struct{}, 1),
		cmds:      make(chan []byte, cmdQueue),
		answers:   make(chan answer, answerQueue),
		drain:     make(chan struct{}, 1),
		ids:       openCommandIDs(cfg.CommandIDs, cfg.Now()),
	}
	if err := l.ids.broken; err != nil {
		l.log.Error("mqtt: command id memory unreadable: privacy off commands are refused until every command it could hold is stale (privacy on still works)",
			"err", err, "until", l.ids.brokenAt.Add(2*MaxCommandAge))
	}
	opts, err := cfg.Client.Options()
	if err != nil {
		return nil, err
	}
	opts.SetWill(l.topics.Availability, "offline", 1, true)
	opts.SetOnConnectHandler(func(paho.Client) { poke(l.connected) })
	opts.SetConnectionLostHandler(func(_ paho.Client, err error) {
		l.log.Warn("mqtt: connection lost", "err", err)
	})
	opts.SetReconnectingHandler(func(_ paho.Client, o *paho.ClientOptions) {
		l.log.Info("mqtt: reconnecting")
	})
	l.client = paho.NewClient(opts)
	return l, nil
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

// Run connects (retrying forever, backoff capped at 30 s) and serves until
// ctx is done, then publishes "offline" and disconnects.
func (l *Link) Run(ctx context.Context) error {
	// Connect returns at once with ConnectRetry; the token completes when
	// connected. OnConnect does the rest.
	l.client.Connect()
	var wg sync.WaitGroup
	wg.Go(func() { l.commandWorker(ctx) })
	wg.Go(func() { l.answerWorker(ctx) })
	if l.cfg.Outbox != nil {
		wg.Go(func() { l.drainOutbox(ctx) })
	}
	l.publisher(ctx)
	wg.Wait()
	if l.client.IsConnectionOpen() {
		t := l.client.Publish(l.topics.Availability, 1, true, "offline")
		t.WaitTimeout(2 * time.Second)
	}
	l.client.Disconnect(500)
	return nil
}

// publisher owns the retained topics: on every connect it subscribes and
// announces; on every status change it republishes.
func (l *Link) publisher(ctx context.Context) {
	stCh, cancel := l.node.Subscribe()
	defer cancel()
	tick := time.NewTicker(l.cfg.StatusEvery)
	defer tick.Stop()
	lastPrivacy := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.connected:
			l.onConnect()
			poke(l.drain)
			lastPrivacy = ""
			l.publishStatus(l.node.Status(), &lastPrivacy)
		case st := <-stCh:
			l.publishStatus(st, &lastPrivacy)
		case <-tick.C:
			l.publishStatus(l.node.Status(), &lastPrivacy)
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
	t := l.client.SubscribeMultiple(map[string]byte{l.topics.Command: 1}, l.onMessage)
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
// executes anything: a command is queued for the command worker, or
// answered (by the answer worker) without being executed when it carries
// the retain flag or when the queue is full. Every command gets one result.
func (l *Link) dispatch(topic string, payload []byte, retained bool) {
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

func (l *Link) publishStatus(st agent.Status, lastPrivacy *string) {
	if !l.client.IsConnectionOpen() {
		return // republished on the next connect
	}
	var ob OutboxStats
	if l.cfg.Outbox != nil {
		ob = l.cfg.Outbox.Stats()
	}
	p := MakeStatus(st, l.cfg.Now(), ReadSoCTemp(l.cfg.Sys, l.cfg.ThermalPath), ob)
	b, err := json.Marshal(p)
	if err != nil {
		l.log.Error("mqtt: status", "err", err)
		return
	}
	l.pub(l.topics.Status, true, b)
	priv := "off"
	if st.Privacy {
		priv = "on"
	}
	if priv != *lastPrivacy && l.pub(l.topics.Privacy, true, []byte(priv)) {
		*lastPrivacy = priv
	}
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

// drainOutbox publishes pending audit records at QoS 1 and removes each
// only after its PUBACK. It runs again after every reconnect.
func (l *Link) drainOutbox(ctx context.Context) {
	ob := l.cfg.Outbox
	retry := time.NewTicker(2 * time.Second)
	defer retry.Stop()
	for {
		for l.client.IsConnectionOpen() && ctx.Err() == nil {
			batch := ob.Pending(64)
			if len(batch) == 0 {
				break
			}
			if !l.publishBatch(batch) {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ob.Wake():
		case <-l.drain:
		case <-retry.C:
		}
	}
}

func (l *Link) publishBatch(batch []agent.AuditRecord) bool {
	tokens := make([]paho.Token, len(batch))
	for i, rec := range batch {
		b, err := json.Marshal(rec)
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
		if err := l.cfg.Outbox.Ack(batch[i].ID); err != nil {
			l.log.Error("mqtt: audit outbox", "err", err)
			ok = false
		}
	}
	return ok
}
