// SPDX-License-Identifier: Apache-2.0

// Package h264dec decodes H.264 access units with OpenH264 (Debian
// libopenh264-dev, BSD-2-Clause), for tests that read the stamp back from
// a passed-through stream (capture/h264vm in the QEMU guests, and its host
// test of the recording). camnode itself never decodes H.264. It needs
// cgo; without it New fails.
package h264dec
