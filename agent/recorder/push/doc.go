// SPDX-License-Identifier: Apache-2.0

// Package push publishes the node's encoded stream to a hub's media server
// (issue 11 item 6): `[recorder] push = "rtsps://hub/..."`, for nodes that
// may open no port. It is outbound only: RTSP ANNOUNCE, SETUP (TCP
// interleaved, one H.264 track, no audio) and RECORD over TLS, with
// github.com/bluenviron/gortsplib/v4 as the RTSP client.
//
// # Stream
//
// A Publisher is a pipeline.Output: it takes the same access units as the
// live view (one encode for all outputs) and packetizes them with the
// node's one packetizer (pipeline.Packetizer) into RTSP interleaved frames
// in a preallocated queue (agent/recorder/interleave); a sender goroutine writes each access
// unit with one Write. WriteAU never blocks on the network: when the queue
// is full the access unit is dropped and the stream resumes at the next IDR
// (a keyframe is requested). Steady state allocates nothing per packet
// (TestWriteAUAllocs, BenchmarkWriteAU).
//
// gortsplib does the RTSP exchange (and Digest); after RECORD it writes
// nothing more (no RTCP sender reports, no keepalives when recording over
// TCP), so its own write queue stays empty and every byte on the socket
// after RECORD comes from our queue. TLS is ours, in the dialer: RTP/AVP
// inside TLS (what MediaMTX, ffmpeg and the VMSs take), not SRTP inside TLS.
//
// # Credentials
//
// The hub's certificate must be signed by the site CA (push_ca_file) and name
// the URL's host. The node proves itself with a client certificate signed
// by the site CA (push_cert_file, push_key_file), or RTSP Digest credentials (push_user,
// push_password_file), or both. With Digest the password is read once, with
// firmware.ReadFile, from a regular file readable by its owner only (mode
// 0600); it never appears in the URL, logs or audit. Basic is used only if
// the hub offers nothing else, and then only inside TLS. Plaintext rtsp://
// needs push_insecure_plain = true and a loopback address (tests, a media server on
// the node itself).
//
// # Privacy
//
// The first access unit after New or a Cut starts connecting; nothing is
// attempted while no frames flow (privacy on, camera stopped). Cut (called
// by the pipeline's Cut with the gate closed) closes the TCP socket at once
// with SO_LINGER 0, so the kernel discards what is still in its send buffer
// and resets the connection instead of flushing it; it empties the queue,
// closes gortsplib's client and returns only then. The socket wrapper
// (conn.go) refuses every write once cut. Nothing of the old epoch is sent
// after Cut: TestCutDiscardsUnsent stalls the hub's reads so that data piles
// up, cuts, and checks that the hub receives nothing beyond what its own
// kernel held at the cut (it fails against a polite close).
//
// # Reconnecting
//
// A refused, failed or ended session is retried after MinBackoff, doubling
// up to MaxBackoff (1 s to 30 s by default), reset once a session reaches
// RECORD. Errors are logged with their cause (refused credentials as the
// hub's 401, an untrusted hub as a TLS error, an unreachable hub as the dial
// error). A hub that stops reading for Timeout ends the session.
//
// # Audit
//
// Every session that reached RECORD is two audit records like a viewer's,
// with the same session id: Kind "recording_start", written before any
// frame is queued for the session, and Kind "recording" when it ends;
// Source "push", Actor the hub's host, and a SessionRecord with Role
// "push", Remote the URL (no credentials), Start and, in the end record,
// End, Frames and Bytes sent, and Ended: "privacy", "closed", "send
// stalled", "stopped before publishing" or "hub: <error>". If the start
// record cannot be written, the session publishes nothing: it is closed,
// the error logged, and the publisher retries with backoff (no unaudited
// session). Failed attempts are logged, not audited (a hub that is down
// would fill the trail).
//
// # Wiring
//
//	pub, err := push.New(push.Config{URL: "rtsps://hub:8322/ward-3",
//		CAFile: ca, CertFile: crt, KeyFile: key, // and/or User, PasswordFile
//		RequestKeyframe: pipe.RequestKeyframe, Auditor: agent, Logger: log})
//	pipe.Add(pub)
//	...
//	pipe.Remove(pub)
//	pub.Close()
//
// The pipeline calls WriteAU, Cut and Wanted; nothing else is needed. A
// node whose camera never opens (clinical zone, no identity) never has a
// frame to push, so it never connects.
package push
