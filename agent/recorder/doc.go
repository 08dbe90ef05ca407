// SPDX-License-Identifier: Apache-2.0

// Package recorder is the node's RTSPS stream for the hub's recorder (an
// NVR or video management system: MediaMTX, Frigate/go2rtc, a VMS; see
// docs/recording.md). It is an output of the frame pipeline, like the
// live view: the same encoded access units, packetized once
// (agent/rtph264) into RTSP interleaved frames for every playing session.
// One H.264 track, no audio, TCP-interleaved on one port, TLS unless plain
// RTSP was configured for loopback.
//
// gortsplib (v4.16.2) runs the RTSP exchange only: OPTIONS, DESCRIBE,
// SETUP, PLAY, keepalives and TEARDOWN, from a gortsplib stream that
// carries the SDP and the SSRC and is never written to (no RTCP sender
// reports either). The RTP is ours, as in the push publisher
// (agent/recorder/interleave): WriteAU copies each access unit's frames
// into every live session's preallocated, bounded queue (a recorder that
// falls behind loses access units up to the next IDR, counted and logged
// once), and the session's sender goroutine writes them, one Write per
// access unit, onto the connection the listener made (rconn: TLS over the
// socket), under the same mutex as gortsplib's own writes, so a frame never
// splits a response or the other way round. A session goes live once its
// PLAY response is written (OnResponse arms the connection) and starts at an
// IDR, on the interleaved channel SETUP's response assigned. A write
// blocked for Config.WriteTimeout aborts the connection. Steady state
// allocates nothing per packet (TestWriteAUAllocs, BenchmarkWriteAU;
// docs/perf.md), where gortsplib's own send path made about two
// allocations per packet per reader.
//
// Access is by named recorders only (Access): a client certificate the
// site CA signed whose subject CN is pinned in the configuration, or RTSP
// Digest (MD5) checked against the stored HA1 ("name:camnode:password";
// the password is never stored). The challenge offers Digest only; Basic
// is accepted over TLS only (checked against the same HA1) and refused
// with 403 over plain RTSP. Missing credentials get 401 with a challenge;
// wrong ones 401 and the connection is closed; an unpinned certificate
// 403. Failures are rate-limited per remote address (agent/ratelimit): an
// address whose bucket is empty gets 403 for wrong credentials, but valid
// credentials are always accepted.
//
// Privacy: Cut (called by the pipeline's Cut before the privacy request is
// acknowledged) drops the stream and resets every RTSP connection with
// SO_LINGER 0, so nothing queued in a session's queue or in the kernel's
// send buffer is delivered after it (and no write starts on a cut
// connection). DESCRIBE, SETUP and PLAY while private get
// 503 "privacy is on"; recorders reconnect by themselves afterwards (their
// retry). A node whose zone forbids capture never starts the server.
//
// Every playing session is audited (source "recorder") twice, with the
// same session id: kind "recording_start" before PLAY is answered (a PLAY
// whose start record cannot be written gets 503 with the reason: no
// unaudited session), and kind "recording" when it ends: recorder name,
// remote address, start, end, frames, bytes and why it ended.
package recorder
