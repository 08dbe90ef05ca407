// SPDX-License-Identifier: Apache-2.0

// Package recorder is the node's RTSPS stream for the hub's recorder (an
// NVR or video management system: MediaMTX, Frigate/go2rtc, a VMS; see
// docs/recording.md). It is an output of the frame pipeline, like the
// live view: the same encoded access units, packetized once
// (agent/rtph264) onto one gortsplib stream that every playing session
// reads. One H.264 track, no audio, TCP-interleaved on one port, TLS
// unless plain RTSP was configured for loopback.
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
// SO_LINGER 0, so nothing queued in gortsplib or in the kernel's send
// buffer is delivered after it. DESCRIBE, SETUP and PLAY while private get
// 503 "privacy is on"; recorders reconnect by themselves afterwards (their
// retry). A node whose zone forbids capture never starts the server.
//
// Every playing session is audited (source "recorder") twice, with the
// same session id: kind "recording_start" before PLAY is answered (a PLAY
// whose start record cannot be written gets 503 with the reason: no
// unaudited session), and kind "recording" when it ends: recorder name,
// remote address, start, end, frames, bytes and why it ended.
package recorder
