// SPDX-License-Identifier: Apache-2.0

// Package liveview is the node's live view: WebRTC (WHEP over HTTPS) for
// authorised viewers only.
//
// # Shape
//
// A Server is an agent.FrameSink. WriteFrame, called by the capture
// goroutine with the privacy gate held open, copies the frame into one of
// two pooled buffers (newest wins; it never waits for the encoder) and
// wakes the single encoder goroutine. That goroutine encodes raw frames
// once with x264 (cgo, linux; ultrafast, zerolatency, baseline, one thread)
// or passes H.264 through, packetizes the access unit once (RFC 6184, no
// allocation) and writes it to one shared TrackLocalStaticRTP to which every
// viewer's sender is bound: N viewers cost N SRTP encryptions, not N
// encodes. Nothing is encoded while nobody watches. Keyframes are forced
// when a viewer connects, on PLI/FIR and after every Cut.
//
// # Authorisation
//
// POST /whep needs "Authorization: Bearer <token>": a JWT signed by the
// hub's Ed25519 key (alg EdDSA only), with aud = this node, sub (viewer),
// role in the allowed set, purpose, iat, exp (lifetime at most one hour)
// and a jti that opens at most one session (see package token). Bad tokens
// get 401 (403 for a genuine token for another node or role); failures are
// rate-limited per remote address (token bucket; 429). A session is closed
// when its token expires.
//
// # Privacy
//
// Cut, called by the agent with the gate held closed, bumps the epoch (so
// no frame captured before it is written), drops the pending frame, and
// closes every peer connection, which stops the senders and discards their
// NACK retransmission rings, before it returns. The NACK responder is our
// own (nack.go, no allocation per packet): even while viewing it re-sends
// only packets at most a second old, each at most three times. Sessions
// never resume: viewers need a new token. While the node is private or not streaming,
// offers are refused with 503 and a reason.
//
// # No audio
//
// No audio codec is registered, so an offer's audio section is answered
// with port 0 (rejected); the page never asks for audio.
//
// # Exposure
//
// One HTTPS listener and one UDP port (ICE UDP mux) bound to the addresses
// of the configured interfaces; no STUN or TURN, no mDNS, host candidates
// only.
//
// Every session is audited through the agent (kind "view"): viewer, role,
// purpose, remote address, start, end, frames sent and why it ended.
package liveview
