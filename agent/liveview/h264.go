// SPDX-License-Identifier: Apache-2.0

package liveview

import (
	"github.com/camnode/camnode/agent/pipeline"
)

// nextNAL is pipeline.NextNAL (one NAL parser for the node).
func nextNAL(b []byte) (nal, rest []byte) { return pipeline.NextNAL(b) }

// NAL unit types used here.
const (
	nalSPS = pipeline.NALSPS
	nalAUD = pipeline.NALAUD
)

// packetizer is the node's one H.264 RTP packetizer.
type packetizer = pipeline.Packetizer

func newPacketizer(mtu int, seq uint16) *packetizer { return pipeline.NewPacketizer(mtu, seq) }
