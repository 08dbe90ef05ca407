#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Remakes testdata/h264/320x240-gop15.h264 (see README.md): 45 raw YUYV
# frames of capture's stamped synthetic pattern (counters 0..44), encoded by
# Debian's ffmpeg with libx264 as an H.264 webcam streams: Annex-B, constrained
# baseline, no B-frames, an IDR every 15 frames, two slices per picture.
# Usage: testdata/h264/make.sh   (from anywhere; needs ffmpeg with libx264)
set -euo pipefail
dir=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$dir/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$repo" && go run ./testdata/jpeg/rawframe -size 320x240 -seq 0 -count 45) >"$tmp/raw.yuyv"
ffmpeg -nostdin -hide_banner -loglevel error -y -f rawvideo -pix_fmt yuyv422 -s 320x240 -r 30 -i "$tmp/raw.yuyv" \
	-pix_fmt yuv420p -c:v libx264 -profile:v baseline -preset veryfast -tune zerolatency \
	-g 15 -keyint_min 15 -sc_threshold 0 -bf 0 -crf 23 -x264-params slices=2:threads=1 \
	-f h264 "$dir/320x240-gop15.h264"
ls -l "$dir"/*.h264
