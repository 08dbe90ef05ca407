#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Remakes the JPEG frames in this directory (see README.md): raw YUYV frames
# of capture's stamped synthetic pattern, encoded by Debian's ffmpeg (libavcodec's
# MJPEG encoder, the encoder of many webcam-like pipelines).
# Usage: testdata/jpeg/make.sh   (from anywhere; needs ffmpeg and cjpeg:
# Debian ffmpeg, libjpeg-turbo-progs)
set -euo pipefail
dir=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$dir/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# name size seq pix_fmt noise huffman: noise is ffmpeg's noise filter
# strength (temporal noise, like a sensor's; 0 = none), which makes the frame
# as large as a real webcam's (a clean pattern compresses far better than a
# scene); huffman is ffmpeg's -huffman: optimal (its default) or default
# (the standard tables of JPEG's Annex K, which UVC cameras leave out).
while read -r name size seq pixfmt noise huffman; do
	vf=()
	((noise)) && vf=(-vf "noise=alls=$noise:allf=t")
	(cd "$repo" && go run ./testdata/jpeg/rawframe -size "$size" -seq "$seq") >"$tmp/$name.yuyv"
	ffmpeg -nostdin -hide_banner -loglevel error -y -f rawvideo -pix_fmt yuyv422 -s "$size" -i "$tmp/$name.yuyv" \
		"${vf[@]}" -frames:v 1 -c:v mjpeg -huffman "$huffman" -q:v 3 -pix_fmt "$pixfmt" "$dir/$name.jpg"
done <<'LIST'
640x480-422 640x480 7 yuvj422p 0 optimal
640x480-420 640x480 8 yuvj420p 0 optimal
1280x720-422 1280x720 9 yuvj422p 0 optimal
640x480-422-noisy 640x480 10 yuvj422p 7 optimal
1280x720-422-noisy 1280x720 11 yuvj422p 7 optimal
1280x720-420-noisy 1280x720 12 yuvj420p 7 optimal
640x480-444 640x480 14 yuvj444p 0 optimal
640x480-422-stdhuff 640x480 15 yuvj422p 0 default
LIST

# Greyscale and progressive frames from libjpeg-turbo's own cjpeg (a second
# real encoder), from the luma of a stamped frame.
(cd "$repo" && go run ./testdata/jpeg/rawframe -size 640x480 -seq 13) >"$tmp/grey.yuyv"
ffmpeg -nostdin -hide_banner -loglevel error -y -f rawvideo -pix_fmt yuyv422 -s 640x480 -i "$tmp/grey.yuyv" \
	-pix_fmt gray "$tmp/grey.pgm"
cjpeg -grayscale -quality 85 "$tmp/grey.pgm" >"$dir/640x480-grey.jpg"
cjpeg -grayscale -quality 85 -progressive "$tmp/grey.pgm" >"$dir/640x480-grey-progressive.jpg"
ls -l "$dir"/*.jpg
