// SPDX-License-Identifier: Apache-2.0

// Package vmtest holds hardware-in-the-loop tests of the V4L2 source, the
// audio guard and the agent against a real Linux kernel with the vivid
// virtual camera and snd-dummy. They are built with -tags vm into a static
// test binary that scripts/vm-test boots in QEMU; elsewhere they skip.
package vmtest
