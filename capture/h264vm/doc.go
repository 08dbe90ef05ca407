// SPDX-License-Identifier: Apache-2.0

// Package h264vm holds the hardware-in-the-loop test of H.264 webcam
// passthrough: a recorded Annex-B stream (testdata/h264) is written into a
// v4l2loopback device as V4L2_PIX_FMT_H264, as an H.264 webcam's driver
// would deliver it, and camnode's V4L2 source and agent/pipeline pass it
// on. The UVC gadget of Linux 6.1 cannot send H.264 (capture/uvcsim
// serves MJPEG and YUYV through uvcvideo), so v4l2loopback, built by
// scripts/v4l2loopback-build against the guest kernel's headers, stands in
// for the camera's driver. The test is built with -tags vm into a static
// binary that scripts/vm-test boots in QEMU; elsewhere it skips.
package h264vm
