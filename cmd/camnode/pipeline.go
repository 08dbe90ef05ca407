// SPDX-License-Identifier: Apache-2.0

package main

import (
	"log/slog"

	"github.com/camnode/camnode/agent/config"
	"github.com/camnode/camnode/agent/pipeline"
	"github.com/camnode/camnode/capture"
	"github.com/camnode/camnode/firmware"
)

// newPipeline builds the node's one frame pipeline (decode, convert,
// masks, encode once) when capture is allowed and an output wants it: the
// live view, the recorder stream and the push to the hub are outputs of it
// (any one of them is enough), and it is the agent's frame sink. nil when
// there is nothing to feed.
func newPipeline(cfg config.Config, id firmware.Identity, allowed bool, log *slog.Logger) (*pipeline.Pipeline, error) {
	if !allowed || !(cfg.LiveView.Enabled() || cfg.Recorder.Enabled()) {
		return nil, nil
	}
	return pipeline.New(pipelineConfig(cfg, id, log))
}

// pipelineConfig is the frame pipeline's configuration: the encoder
// settings ([liveview] bitrate_kbps and fps, which apply to every output),
// the longest IDR interval ([recorder] idr_interval, so recorders can cut
// segments) and the identity's privacy masks, burned into every picture
// before it is encoded (invariant 7).
func pipelineConfig(cfg config.Config, id firmware.Identity, log *slog.Logger) pipeline.Config {
	pc := pipeline.Config{BitrateKbps: cfg.LiveView.BitrateKbps, FPS: cfg.LiveView.FPS,
		Logger: log.With("component", "pipeline")}
	if cfg.Recorder.Enabled() {
		pc.KeyInterval = cfg.Recorder.IDRInterval.D()
	}
	if m := capture.NewMasker(id.Masks); m != nil {
		// Only a non-nil *Masker: a typed nil in the interface would
		// count as set and refuse every H.264 camera.
		pc.Masker = m
	}
	return pc
}
