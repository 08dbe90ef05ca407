// SPDX-License-Identifier: Apache-2.0

// Package vmtest holds hardware-in-the-loop tests of package gpio against a
// real Linux kernel: an emulated MCP2221 (package mcp2221sim, through
// /dev/uhid) makes the stock hid-mcp2221 driver register a real GPIO chip,
// which the tests drive through periph's gpioioctl and read back on the
// emulator side. They are built with -tags vm into a static test binary
// that scripts/vm-test runs in QEMU; elsewhere they skip.
package vmtest
