// SPDX-License-Identifier: Apache-2.0

// Package vmtest holds hardware-in-the-loop tests of the V4L2 source
// against the kernel's own uvcvideo driver: capture/uvcsim plugs an
// emulated USB webcam into USB/IP's vhci_hcd and the tests stream from the
// /dev/video node uvcvideo creates. They are built with -tags vm into a
// static test binary that scripts/vm-test boots in QEMU; elsewhere they
// skip.
package vmtest
