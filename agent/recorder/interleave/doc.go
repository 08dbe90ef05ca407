// SPDX-License-Identifier: Apache-2.0

// Package interleave is the allocation-free RTP send path shared by the
// recorder stream's sessions (agent/recorder) and the push publisher
// (agent/recorder/push): access units packetized once into RTSP
// interleaved frames (Framer), a bounded preallocated queue per connection
// (Queue) that a sender goroutine writes from, one Write per access unit.
// gortsplib runs only the RTSP exchange on those connections.
package interleave
