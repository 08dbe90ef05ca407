// SPDX-License-Identifier: Apache-2.0

// Package config reads camnode's configuration file (TOML). Load decodes
// strictly (an unknown key is an error, so a typo never silently falls back
// to a default) and Validate reports every problem at once, each naming its
// key.
//
// Nothing in this file can allow capture in a forbidden zone: the zone rule
// is compiled into the agent and has no key here.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/camnode/camnode/agent/recorder/pushurl"
	"github.com/camnode/camnode/capture"
	"github.com/camnode/camnode/firmware"
	"github.com/camnode/camnode/gpio"
)

// MaxSize bounds the configuration file.
const MaxSize = firmware.MaxConfigFileSize

// Config is the whole configuration file.
type Config struct {
	Node    Node        `toml:"node"`
	Camera  Camera      `toml:"camera"`
	GPIO    GPIO        `toml:"gpio"`
	Capture CaptureTime `toml:"capture"`
	Audio   Audio       `toml:"audio"`
	Audit   Audit       `toml:"audit"`
	Log     Log         `toml:"log"`
	MQTT    MQTT        `toml:"mqtt"`
	// LiveView is the WebRTC live view for authorised viewers.
	LiveView LiveView `toml:"liveview"`
	// Recorder is the RTSPS stream for the hub's recorder (NVR, VMS).
	Recorder Recorder `toml:"recorder"`
}

// Recorder configures the node's stream for the hub's recorder
// (docs/recording.md): an RTSPS server for named recorders (Listen: one
// H.264 track, TCP-interleaved on one port, TLS unless InsecurePlain),
// and/or a push of the same stream to the hub's media server (Push: RTSP
// ANNOUNCE/RECORD, outbound only, for a node that may open no port). Both
// are off unless set.
type Recorder struct {
	// Listen is the RTSPS address, e.g. ":322" or "10.0.0.5:8322".
	Listen string `toml:"listen"`
	// CertFile and KeyFile are the server's TLS certificate and key (PEM).
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
	// ClientCAFile is the site CA that signs recorders' client
	// certificates; required when a recorder has a cert_name.
	ClientCAFile string `toml:"client_ca_file"`
	// InsecurePlain serves plain RTSP (no TLS) and is allowed only on a
	// loopback listen address (a recorder on the node itself, tests).
	// Logged at Warn at start. Never for a real deployment.
	InsecurePlain bool `toml:"insecure_plain"`
	// IDRInterval is the longest time between two IDRs of the node's
	// stream, so that recorders can cut segments (default 2s).
	IDRInterval Duration `toml:"idr_interval"`
	// MaxSessions bounds the RTSP sessions playing at once.
	MaxSessions int `toml:"max_sessions"`
	// Recorders are the named recorders that may pull the stream.
	Recorders []RecorderAccess `toml:"recorders"`

	// Push is the hub's publish URL, rtsps://hub[:port]/path (no
	// credentials in it); the node publishes its stream there.
	Push string `toml:"push"`
	// PushCAFile is the site CA that signed the hub's certificate
	// (required with rtsps://).
	PushCAFile string `toml:"push_ca_file"`
	// PushCertFile and PushKeyFile are the node's client certificate for
	// the hub (both or neither).
	PushCertFile string `toml:"push_cert_file"`
	PushKeyFile  string `toml:"push_key_file"`
	// PushUser and PushPasswordFile are RTSP Digest credentials for the
	// hub (both or neither); the password file is one line, mode 0600.
	PushUser         string `toml:"push_user"`
	PushPasswordFile string `toml:"push_password_file"`
	// PushInsecurePlain allows a plain rtsp:// push URL, and only to a
	// loopback address (a media server on the node itself, tests).
	// Logged at Warn at start. Never for a real deployment.
	PushInsecurePlain bool `toml:"push_insecure_plain"`
}

// RecorderAccess is one named recorder and how it proves who it is:
// exactly one of CertName (a client certificate signed by ClientCAFile
// whose subject CN is this name) or DigestHA1 (RTSP Digest: the hex
// MD5 of "user:camnode:password", user being Name; the password itself is
// never stored).
type RecorderAccess struct {
	Name      string `toml:"name"`
	CertName  string `toml:"cert_name"`
	DigestHA1 string `toml:"digest_ha1"`
}

// Enabled reports whether the recorder stream is configured at all:
// served (Serves) or pushed (Pushes), or both.
func (r Recorder) Enabled() bool { return r.Serves() || r.Pushes() }

// Serves reports whether the RTSPS server for named recorders is
// configured (a listening port).
func (r Recorder) Serves() bool { return r.Listen != "" }

// Pushes reports whether the stream is pushed to the hub (outbound only).
func (r Recorder) Pushes() bool { return r.Push != "" }

// LiveView configures the live view (WHEP over HTTPS, one UDP port for
// media). It is off unless Listen is set. Viewer tokens are verified with
// the identity's hub_key.
type LiveView struct {
	// Listen is the HTTPS address, e.g. ":8443" or "10.0.0.5:8443".
	Listen string `toml:"listen"`
	// UDPPort is the single UDP port for all media (ICE UDP mux).
	UDPPort int `toml:"udp_port"`
	// CertFile and KeyFile are the TLS certificate and key (PEM).
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
	// Interfaces whose addresses are offered as ICE host candidates (and
	// where the UDP port is bound); empty means every non-loopback one.
	Interfaces  []string `toml:"interfaces"`
	MaxViewers  int      `toml:"max_viewers"`
	BitrateKbps int      `toml:"bitrate_kbps"`
	FPS         int      `toml:"fps"`
	// AllowedRoles are the token roles that may view.
	AllowedRoles []string `toml:"allowed_roles"`
}

// Enabled reports whether the live view is configured.
func (l LiveView) Enabled() bool { return l.Listen != "" }

// MQTT configures the link to the hub's broker. It is optional: with no
// brokers the node runs without MQTT.
type MQTT struct {
	// Brokers are tried in order: "ssl://host:8883" (TLS) or, only with
	// Insecure, "tcp://host:1883".
	Brokers []string `toml:"brokers"`
	// CAFile verifies the broker; CertFile and KeyFile are this node's
	// client certificate (its CN must be the node id, see
	// firmware/mosquitto/acl.template).
	CAFile   string `toml:"ca_file"`
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
	// Insecure allows plaintext tcp:// brokers with no client certificate.
	// Logged at Warn on every connect. Never for a real deployment.
	Insecure bool `toml:"insecure"`
	// Keepalive is the MQTT keepalive (at most 10s, so the hub sees a dead
	// node within about 1.5x of it).
	Keepalive Duration `toml:"keepalive"`
	// ClientID defaults to the node id.
	ClientID string `toml:"client_id"`
	// HADiscovery announces Home Assistant MQTT discovery entities.
	HADiscovery bool `toml:"ha_discovery"`
	// TopicPrefix is the first topic level ("camnode/<node>/...").
	TopicPrefix string `toml:"topic_prefix"`
}

// Enabled reports whether MQTT is configured.
func (m MQTT) Enabled() bool { return len(m.Brokers) > 0 }

// Node says where the node's files are.
type Node struct {
	// IdentityFile is the signed identity written at provisioning.
	IdentityFile string `toml:"identity_file"`
	// InstallerKeysFile pins the installer public keys that may sign it.
	InstallerKeysFile string `toml:"installer_keys_file"`
	// StateDir holds the persisted privacy mode and the audit log.
	StateDir string `toml:"state_dir"`
	// ControlSocket is the technicians' local control socket (mode 0660).
	ControlSocket string `toml:"control_socket"`
	// ControlGroup, if set, owns the control socket.
	ControlGroup string `toml:"control_group"`
}

// Camera selects and configures the capture source.
type Camera struct {
	// Source is "v4l2" or "synthetic".
	Source string `toml:"source"`
	// Device is the V4L2 device path (prefer /dev/v4l/by-id/...).
	Device string `toml:"device"`
	Width  int    `toml:"width"`
	Height int    `toml:"height"`
	FPS    int    `toml:"fps"`
	// Formats is, for V4L2, the pixel formats that may be chosen (a
	// filter, not an order: capture.Choose takes the one that costs the
	// node least and that an output can show, see capture.Choose), and
	// the single format of the synthetic source (I420 or YUYV).
	Formats []string `toml:"formats"`
}

// GPIO wires the LED, shutter and button.
type GPIO struct {
	// Simulate uses in-memory pins instead of hardware (demo, tests).
	Simulate bool `toml:"simulate"`
	gpio.Config
	// ShutterConfirmTimeout is how long the shutter sensor may take to
	// confirm open before the node returns to privacy with a fault.
	ShutterConfirmTimeout Duration `toml:"shutter_confirm_timeout"`
}

// CaptureTime bounds the capture life cycle.
type CaptureTime struct {
	StopTimeout Duration `toml:"stop_timeout"`
	RetryMin    Duration `toml:"retry_min"`
	RetryMax    Duration `toml:"retry_max"`
}

// Audio configures the audio guard.
type Audio struct {
	// PollInterval is how often /dev/snd and /proc/asound are checked.
	PollInterval Duration `toml:"poll_interval"`
}

// Audit configures the signed audit chain (docs/audit.md).
type Audit struct {
	// CheckpointEvery: a signed checkpoint after this many records.
	CheckpointEvery int `toml:"checkpoint_every"`
	// CheckpointInterval: a checkpoint once this long has passed with
	// records not yet covered by one (and one at every clean stop).
	CheckpointInterval Duration `toml:"checkpoint_interval"`
	// RotateSize and RotateAge: audit.jsonl is rotated (renamed
	// audit-<first seq>.jsonl, the chain continuing in a new audit.jsonl)
	// once it holds this many bytes or its first record is this old.
	RotateSize int64    `toml:"rotate_size"`
	RotateAge  Duration `toml:"rotate_age"`
	// KeepSize and KeepAge: rotated files are deleted, oldest first, while
	// all of them together are over KeepSize or a file's last record is
	// older than KeepAge, but only when the hub has witnessed every record
	// in it: without a hub, or before it acknowledged them, nothing is
	// deleted (docs/audit.md, "Retention").
	KeepSize int64    `toml:"keep_size"`
	KeepAge  Duration `toml:"keep_age"`
}

// Log configures logging.
type Log struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // text or json
}

// Duration is a time.Duration written as "2s" or "500ms".
type Duration time.Duration

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration like \"2s\" or \"500ms\"", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText formats the duration.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Default returns the configuration used for keys that are not set.
func Default() Config {
	return Config{
		Node: Node{
			IdentityFile:      "/boot/firmware/camnode/identity.json",
			InstallerKeysFile: "/etc/camnode/installer-keys.pub",
			StateDir:          "/var/lib/camnode",
			ControlSocket:     "/run/camnode/control.sock",
		},
		Camera: Camera{Source: "v4l2", Device: "/dev/video0", Width: 640, Height: 480, FPS: 25,
			Formats: []string{"H264", "MJPEG", "YUYV", "NV12"}},
		GPIO: GPIO{ShutterConfirmTimeout: Duration(2 * time.Second)},
		Capture: CaptureTime{StopTimeout: Duration(3 * time.Second),
			RetryMin: Duration(500 * time.Millisecond), RetryMax: Duration(30 * time.Second)},
		Audio: Audio{PollInterval: Duration(time.Second)},
		Audit: Audit{CheckpointEvery: 100, CheckpointInterval: Duration(10 * time.Minute),
			RotateSize: 4 << 20, RotateAge: Duration(7 * 24 * time.Hour), KeepSize: 256 << 20, KeepAge: Duration(400 * 24 * time.Hour)},
		Log:  Log{Level: "info", Format: "text"},
		MQTT: MQTT{Keepalive: Duration(10 * time.Second), HADiscovery: true, TopicPrefix: "camnode"},
		LiveView: LiveView{UDPPort: 8444, MaxViewers: 4, BitrateKbps: 1500, FPS: 30,
			AllowedRoles: []string{"staff", "security"}},
		Recorder: Recorder{IDRInterval: Duration(2 * time.Second), MaxSessions: 4},
	}
}

// Load reads, decodes and validates a configuration file. Keys not in the
// file keep their defaults.
func Load(path string) (Config, error) {
	// A regular file only: a FIFO at the path would hang check-config and
	// run (and with them the signal handling), a device would be read
	// without end.
	data, err := firmware.ReadFile(path, MaxSize)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return Config{}, fmt.Errorf("config: %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes and validates configuration text.
func Parse(data []byte) (Config, error) {
	c := Default()
	md, err := toml.Decode(string(data), &c)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			return Config{}, fmt.Errorf("line %d: %s", perr.Position.Line, perr.Message)
		}
		return Config{}, err
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return Config{}, fmt.Errorf("unknown key(s): %s", strings.Join(keys, ", "))
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate reports every problem, each naming its key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	abs := func(key, p string, required bool) {
		switch {
		case p == "" && required:
			bad(key, "required")
		case p != "" && !filepath.IsAbs(p):
			bad(key, "%q must be an absolute path", p)
		}
	}
	abs("node.identity_file", c.Node.IdentityFile, true)
	abs("node.installer_keys_file", c.Node.InstallerKeysFile, true)
	abs("node.state_dir", c.Node.StateDir, true)
	abs("node.control_socket", c.Node.ControlSocket, true)
	if n := len(c.Node.ControlSocket); n > 100 {
		bad("node.control_socket", "path is %d bytes; unix sockets allow about 100", n)
	}

	switch c.Camera.Source {
	case "v4l2":
		abs("camera.device", c.Camera.Device, true)
	case "synthetic":
	default:
		bad("camera.source", "%q must be \"v4l2\" or \"synthetic\"", c.Camera.Source)
	}
	if c.Camera.Width < 16 || c.Camera.Width > 4096 || c.Camera.Width%2 != 0 {
		bad("camera.width", "%d must be even and between 16 and 4096", c.Camera.Width)
	}
	if c.Camera.Height < 16 || c.Camera.Height > 4096 || c.Camera.Height%2 != 0 {
		bad("camera.height", "%d must be even and between 16 and 4096", c.Camera.Height)
	}
	if c.Camera.FPS < 1 || c.Camera.FPS > 120 {
		bad("camera.fps", "%d must be between 1 and 120", c.Camera.FPS)
	}
	if len(c.Camera.Formats) == 0 {
		bad("camera.formats", "needs at least one format")
	}
	known := []string{string(capture.H264), string(capture.MJPEG), string(capture.YUYV), string(capture.NV12), string(capture.I420)}
	for i, f := range c.Camera.Formats {
		if !slices.Contains(known, f) {
			bad(fmt.Sprintf("camera.formats[%d]", i), "%q is not one of %s", f, strings.Join(known, ", "))
		}
	}
	if c.Camera.Source == "synthetic" && len(c.Camera.Formats) > 0 {
		if f := c.Camera.Formats[0]; f != string(capture.I420) && f != string(capture.YUYV) {
			bad("camera.formats", "the synthetic source makes I420 or YUYV, not %q", f)
		}
	}

	if !c.GPIO.Simulate {
		if err := c.GPIO.Config.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	positive := func(key string, d Duration, lo, hi time.Duration) {
		if time.Duration(d) < lo || time.Duration(d) > hi {
			bad(key, "%v must be between %v and %v", time.Duration(d), lo, hi)
		}
	}
	positive("gpio.shutter_confirm_timeout", c.GPIO.ShutterConfirmTimeout, 50*time.Millisecond, time.Minute)
	positive("capture.stop_timeout", c.Capture.StopTimeout, 100*time.Millisecond, time.Minute)
	positive("capture.retry_min", c.Capture.RetryMin, 10*time.Millisecond, time.Minute)
	positive("capture.retry_max", c.Capture.RetryMax, 10*time.Millisecond, 30*time.Minute)
	if c.Capture.RetryMax < c.Capture.RetryMin {
		bad("capture.retry_max", "%v is below capture.retry_min %v", time.Duration(c.Capture.RetryMax), time.Duration(c.Capture.RetryMin))
	}
	positive("audio.poll_interval", c.Audio.PollInterval, 100*time.Millisecond, 2*time.Second)
	positive("audit.checkpoint_interval", c.Audit.CheckpointInterval, 10*time.Second, 24*time.Hour)
	if c.Audit.CheckpointEvery < 1 || c.Audit.CheckpointEvery > 100000 {
		bad("audit.checkpoint_every", "%d must be between 1 and 100000", c.Audit.CheckpointEvery)
	}
	if c.Audit.RotateSize < 256<<10 || c.Audit.RotateSize > 1<<30 {
		bad("audit.rotate_size", "%d must be between 262144 (256 KiB) and 1073741824 (1 GiB) bytes", c.Audit.RotateSize)
	}
	positive("audit.rotate_age", c.Audit.RotateAge, time.Hour, 366*24*time.Hour)
	if c.Audit.KeepSize < c.Audit.RotateSize {
		bad("audit.keep_size", "%d is below audit.rotate_size %d", c.Audit.KeepSize, c.Audit.RotateSize)
	}
	positive("audit.keep_age", c.Audit.KeepAge, 24*time.Hour, 100*366*24*time.Hour)

	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q must be debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "%q must be text or json", c.Log.Format)
	}
	errs = append(errs, c.MQTT.validate()...)
	errs = append(errs, c.LiveView.validate()...)
	errs = append(errs, c.Recorder.validate()...)
	return errors.Join(errs...)
}

var topicLevelRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func (m MQTT) validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("mqtt.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if !m.Enabled() {
		return nil
	}
	tls := false
	for i, b := range m.Brokers {
		key := fmt.Sprintf("brokers[%d]", i)
		u, err := url.Parse(b)
		if err != nil || u.Host == "" || u.Hostname() == "" || u.Port() == "" || (u.Path != "" && u.Path != "/") || u.User != nil || u.RawQuery != "" {
			bad(key, "%q must look like ssl://host:8883", b)
			continue
		}
		switch u.Scheme {
		case "ssl", "tls", "mqtts":
			tls = true
		case "tcp", "mqtt":
			if !m.Insecure {
				bad(key, "%q is plaintext; use ssl:// or set mqtt.insecure = true (never in production)", b)
			}
		default:
			bad(key, "%q: scheme must be ssl:// (or tcp:// with mqtt.insecure)", b)
		}
	}
	abs := func(key, p string) {
		switch {
		case p == "":
			bad(key, "required for ssl:// brokers")
		case !filepath.IsAbs(p):
			bad(key, "%q must be an absolute path", p)
		}
	}
	if tls || !m.Insecure {
		abs("ca_file", m.CAFile)
		abs("cert_file", m.CertFile)
		abs("key_file", m.KeyFile)
	}
	if d := m.Keepalive.D(); d < time.Second || d > 10*time.Second || d%time.Second != 0 {
		bad("keepalive", "%v must be whole seconds between 1s and 10s", d)
	}
	if m.ClientID != "" && (len(m.ClientID) > 64 || strings.ContainsAny(m.ClientID, "+#/ \t\n")) {
		bad("client_id", "%q must be at most 64 characters with no spaces, '/', '+' or '#'", m.ClientID)
	}
	if !topicLevelRe.MatchString(m.TopicPrefix) {
		bad("topic_prefix", "%q must be one topic level of [a-z0-9_-]", m.TopicPrefix)
	}
	return errs
}

var roleRe = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

func (l LiveView) validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("liveview.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if !l.Enabled() {
		return nil
	}
	if msg := checkListen(l.Listen); msg != "" {
		bad("listen", "%s", msg)
	}
	if l.UDPPort < 1 || l.UDPPort > 65535 {
		bad("udp_port", "%d must be between 1 and 65535", l.UDPPort)
	}
	for _, k := range []struct{ key, p string }{{"cert_file", l.CertFile}, {"key_file", l.KeyFile}} {
		switch {
		case k.p == "":
			bad(k.key, "required (the live view is served over HTTPS only)")
		case !filepath.IsAbs(k.p):
			bad(k.key, "%q must be an absolute path", k.p)
		}
	}
	for i, n := range l.Interfaces {
		if n == "" || len(n) > 15 || strings.ContainsAny(n, "/ \t") {
			bad(fmt.Sprintf("interfaces[%d]", i), "%q is not an interface name", n)
		}
	}
	if l.MaxViewers < 1 || l.MaxViewers > 64 {
		bad("max_viewers", "%d must be between 1 and 64", l.MaxViewers)
	}
	if l.BitrateKbps < 100 || l.BitrateKbps > 20000 {
		bad("bitrate_kbps", "%d must be between 100 and 20000", l.BitrateKbps)
	}
	if l.FPS < 1 || l.FPS > 60 {
		bad("fps", "%d must be between 1 and 60", l.FPS)
	}
	if len(l.AllowedRoles) == 0 {
		bad("allowed_roles", "needs at least one role")
	}
	for i, r := range l.AllowedRoles {
		if !roleRe.MatchString(r) {
			bad(fmt.Sprintf("allowed_roles[%d]", i), "%q must be a lower-case word", r)
		}
	}
	return errs
}

// checkListen reports what is wrong with a host:port listen address, or "".
func checkListen(addr string) string {
	if host, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		return fmt.Sprintf("%q must be host:port or :port", addr)
	} else if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Sprintf("%q: port must be 1..65535", addr)
	} else if host != "" && net.ParseIP(host) == nil && host != "localhost" {
		return fmt.Sprintf("%q: host must be an IP address", addr)
	}
	return ""
}

// Loopback reports whether a listen address is on loopback only.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

var (
	recorderNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	ha1Re          = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

func (r Recorder) validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("recorder.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	absFile := func(key, p, why string) {
		switch {
		case p == "":
			bad(key, "required (%s)", why)
		case !filepath.IsAbs(p):
			bad(key, "%q must be an absolute path", p)
		}
	}
	r.validatePush(bad, absFile)
	if r.Enabled() {
		if d := r.IDRInterval.D(); d < 500*time.Millisecond || d > 10*time.Second {
			bad("idr_interval", "%v must be between 500ms and 10s", d)
		}
	}
	if !r.Serves() {
		if len(r.Recorders) > 0 {
			bad("listen", "required: recorders are named but the stream has no listen address (a node that may open no port uses push alone)")
		}
		for _, k := range []struct{ key, v string }{{"cert_file", r.CertFile}, {"key_file", r.KeyFile}, {"client_ca_file", r.ClientCAFile}} {
			if k.v != "" {
				bad(k.key, "is for the RTSPS server, which has no listen address; the push keys are push_*")
			}
		}
		if r.InsecurePlain {
			bad("insecure_plain", "is for the RTSPS server, which has no listen address; a plain push is push_insecure_plain")
		}
		return errs
	}
	if msg := checkListen(r.Listen); msg != "" {
		bad("listen", "%s", msg)
	} else if r.InsecurePlain && !Loopback(r.Listen) {
		bad("insecure_plain", "plain RTSP is allowed only on a loopback listen address (127.0.0.1:port), not %q", r.Listen)
	}
	if !r.InsecurePlain {
		absFile("cert_file", r.CertFile, "the recorder stream is served over TLS (rtsps://) only")
		absFile("key_file", r.KeyFile, "the recorder stream is served over TLS (rtsps://) only")
	}
	if r.MaxSessions < 1 || r.MaxSessions > 16 {
		bad("max_sessions", "%d must be between 1 and 16", r.MaxSessions)
	}
	if len(r.Recorders) == 0 {
		bad("recorders", "needs at least one named recorder (name with cert_name or digest_ha1)")
	}
	seen := map[string]bool{}
	certs := false
	for i, a := range r.Recorders {
		key := fmt.Sprintf("recorders[%d]", i)
		if !recorderNameRe.MatchString(a.Name) {
			bad(key+".name", "%q must be 1-64 letters, digits, '.', '_' or '-'", a.Name)
		} else if seen[a.Name] {
			bad(key+".name", "%q is named twice", a.Name)
		}
		seen[a.Name] = true
		switch {
		case a.CertName != "" && a.DigestHA1 != "":
			bad(key, "set cert_name or digest_ha1, not both")
		case a.CertName == "" && a.DigestHA1 == "":
			bad(key, "needs cert_name (client certificate) or digest_ha1 (RTSP Digest)")
		case a.CertName != "":
			certs = true
			if r.InsecurePlain {
				bad(key+".cert_name", "client certificates need TLS; insecure_plain serves plain RTSP")
			}
			if len(a.CertName) > 64 || strings.ContainsAny(a.CertName, "\x00\n") {
				bad(key+".cert_name", "%q is not a certificate name", a.CertName)
			}
		default:
			if !ha1Re.MatchString(a.DigestHA1) {
				bad(key+".digest_ha1", "must be the 32 lower-case hex digits of MD5(\"%s:camnode:<password>\") (never the password)", a.Name)
			}
		}
	}
	if certs {
		absFile("client_ca_file", r.ClientCAFile, "a recorder authenticates with a client certificate")
	} else if r.ClientCAFile != "" && !filepath.IsAbs(r.ClientCAFile) {
		bad("client_ca_file", "%q must be an absolute path", r.ClientCAFile)
	}
	return errs
}

// validatePush checks the push_* keys: the URL with the publisher's own
// parser (agent/recorder/pushurl), the hub's CA for rtsps://, the node's
// credentials in pairs and, with TLS, at least one of them.
func (r Recorder) validatePush(bad func(key, format string, args ...any), absFile func(key, p, why string)) {
	if !r.Pushes() {
		for _, k := range []struct{ key, v string }{{"push_ca_file", r.PushCAFile}, {"push_cert_file", r.PushCertFile},
			{"push_key_file", r.PushKeyFile}, {"push_user", r.PushUser}, {"push_password_file", r.PushPasswordFile}} {
			if k.v != "" {
				bad(k.key, "set but there is no push URL (recorder.push)")
			}
		}
		if r.PushInsecurePlain {
			bad("push_insecure_plain", "set but there is no push URL (recorder.push)")
		}
		return
	}
	t, err := pushurl.Parse(r.Push, r.PushInsecurePlain)
	if err != nil {
		bad("push", "%v", err)
		return
	}
	opt := func(key, p string) {
		if p != "" && !filepath.IsAbs(p) {
			bad(key, "%q must be an absolute path", p)
		}
	}
	if t.Secure {
		absFile("push_ca_file", r.PushCAFile, "the site CA that signed the hub's certificate, for rtsps://")
		if r.PushCertFile == "" && r.PushUser == "" {
			bad("push", "rtsps:// needs credentials for the hub: push_cert_file and push_key_file (client certificate) and/or push_user and push_password_file (Digest)")
		}
	} else {
		opt("push_ca_file", r.PushCAFile)
		if r.PushCertFile != "" || r.PushKeyFile != "" {
			bad("push_cert_file", "a client certificate needs TLS; push_insecure_plain pushes plain rtsp://")
		}
	}
	switch {
	case (r.PushCertFile == "") != (r.PushKeyFile == ""):
		bad("push_cert_file", "push_cert_file and push_key_file go together (the node's client certificate)")
	case t.Secure:
		opt("push_cert_file", r.PushCertFile)
		opt("push_key_file", r.PushKeyFile)
	}
	if (r.PushUser == "") != (r.PushPasswordFile == "") {
		bad("push_user", "push_user and push_password_file go together (RTSP Digest; the password lives in the file, never in the configuration)")
	} else {
		opt("push_password_file", r.PushPasswordFile)
	}
	if len(r.PushUser) > 64 || strings.ContainsFunc(r.PushUser, func(c rune) bool { return c < 0x20 || c == 0x7f || c == ':' || c == '"' }) {
		bad("push_user", "%q: at most 64 characters, no control characters, ':' or '\"'", r.PushUser)
	}
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
