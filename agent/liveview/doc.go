// SPDX-License-Identifier: Apache-2.0

// Package liveview is the node's live view: WebRTC (WHEP over HTTPS) for
// authorised viewers only.
//
// # Shape
//
// A Server is an output of the frame pipeline (agent/pipeline), which
// decodes, converts, masks and encodes once; the pipeline is the agent's
// frame sink. WriteAU, called by the pipeline goroutine, packetizes each
// access unit once (RFC 6184, no allocation) and writes it to one shared
// TrackLocalStaticRTP to which every viewer's sender is bound: N viewers
// cost N SRTP encryptions, not N encodes. Nothing is encoded while nobody
// watches (Wanted). Each viewer's binding of the track is gated (keyGate,
// session.go): nothing reaches it before it has sent the first packet of
// an IDR (SPS, PPS, IDR), so a joining viewer's first picture is a
// keyframe, while the other viewers go on getting every frame. pion binds
// when the answer is made, long before DTLS; writes to a binding whose
// SRTP is not ready go nowhere, so the gate opens only on an IDR whose
// first packet was actually sent. Keyframes are asked of the pipeline when
// a viewer connects, for every frame a connected viewer waits, on PLI/FIR
// (a viewer that lost its first keyframe on the way asks again), and every
// epoch after a Cut starts with one.
//
// # Authorisation
//
// POST /whep needs "Authorization: Bearer <token>": a JWT signed by the
// hub's Ed25519 key (alg EdDSA only), with aud = this node, sub (viewer),
// role in the allowed set, purpose, iat, exp (lifetime at most one hour)
// and a jti that opens at most one session (see package token). The
// token's header and claims are decoded strictly (firmware.DecodeJSON:
// exact-case names, no member twice under any case folding, no unknown
// claim), so no reader can see another role or audience than we do.
//
// Used jti are remembered until their token expires, in memory and in the
// state directory (usedtokens.go: <state_dir>/liveview-used-tokens.json,
// hashed, at most token.MaxUsed), so a token cannot open a second session
// after a restart either. If that file cannot be read (corrupt, not a
// regular file, too large) or written, every token is refused with 503 and
// the cause, and an error is logged: the node keeps capturing, guarding
// privacy and auditing, but admits no viewer until the file is repaired
// (or removed) - failing open would allow replays.
//
// Bad tokens get 401 (403 for a genuine token for another node or role)
// with the reason in the body (expired, already used, another node,
// role...); the page shows it. Failures are rate-limited per remote
// address (token bucket), but only failures: the token is verified first
// and a valid one is accepted even from a throttled address, so one
// mistyped token does not lock out every viewer behind a hub's single
// address; a refused one from a throttled address gets 429. Verifications
// for throttled addresses share a global budget, which bounds the work a
// flood can cause. A session is closed when its token expires.
//
// # Dead viewers
//
// A viewer that vanishes without DELETE (lid closed, network gone) is
// detected by ICE consent: the node sends binding requests every second
// and declares the connection failed after 6 s without an answer
// (iceDisconnected + iceFailed), which ends the session and frees its
// slot. An answered offer whose viewer never connects is ended after
// Config.ConnectTimeout (10 s).
//
// # DTLS role
//
// Answers carry a=setup:passive: the viewer is the DTLS client and sends
// its hello once it has applied the answer, so ours can never arrive
// before it knows our fingerprint. Offers with a=setup:passive are refused
// (two passive ends never start DTLS).
//
// # Privacy
//
// The pipeline's Cut, called by the agent with the gate held closed, moves
// the pipeline to a new epoch (so no access unit built from a frame
// captured before it is written) and then calls Cut here, which drops the
// shared track and closes every peer connection, which stops the senders
// and discards their NACK retransmission rings, before it returns. The NACK responder is our
// own (nack.go, no allocation per packet): even while viewing it re-sends
// only packets at most a second old, each at most three times. Sessions
// never resume: viewers need a new token. While the node is private or not streaming,
// offers are refused with 503 and a reason.
//
// The page (page/viewer.js) shows "private" within about a second of the
// cut: it reacts to its peer connection closing by asking GET /state at
// once, and polls /state every second (also while viewing), so a closing
// that the browser notices late still shows within a poll. The refusal
// reason of the last attempt has its own line, which the poller never
// overwrites.
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
// Every session is audited through the agent twice, with the same session
// id: kind "view_start" before the answer is returned (so before any frame
// can be sent; an offer whose start record cannot be written gets 503 with
// the reason: no unaudited viewing), and kind "view" when it ends: viewer,
// role, purpose, remote address, start, end, frames sent and why it ended.
//
// # Privacy masks
//
// The pixels under the identity's privacy masks are blanked by the pipeline
// before encoding, for every viewer. The live view only tells where they
// are, and only to a viewer whose token has InstallerRole: the WHEP answer
// then carries MasksHeader (the masks as JSON, relative coordinates), and
// the page outlines them over the video so the installer can align them
// (TestMasksOnlyForInstaller, TestBrowserMaskLeak).
package liveview
