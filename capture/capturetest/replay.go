// SPDX-License-Identifier: Apache-2.0

package capturetest

import (
	"context"
	"errors"
	"time"

	"github.com/camnode/camnode/capture"
)

// Replay is a capture.Source that delivers recorded frames (e.g. the
// JPEGs of testdata/jpeg, as an MJPEG webcam sends them) in a loop at the
// format's rate, paced by a time.Ticker (fake time under
// testing/synctest). Each frame gets the next sequence number and the
// delivery time; the data is delivered as recorded (a corrupt frame stays
// corrupt).
type Replay struct {
	Format capture.Format // FPSNum/FPSDen is the pace
	Frames [][]byte
}

// Stream implements capture.Source.
func (r *Replay) Stream(ctx context.Context, sink capture.Sink) error {
	if len(r.Frames) == 0 || r.Format.FPSNum <= 0 || r.Format.FPSDen <= 0 {
		return errors.New("capturetest: Replay needs frames and a frame rate")
	}
	sink.Started(r.Format)
	tick := time.NewTicker(time.Second * time.Duration(r.Format.FPSDen) / time.Duration(r.Format.FPSNum))
	defer tick.Stop()
	f := capture.Frame{Format: r.Format}
	for seq := uint64(0); ; seq++ {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			f.Data, f.Seq, f.Time = r.Frames[seq%uint64(len(r.Frames))], seq, now
			sink.Frame(&f)
		}
	}
}
