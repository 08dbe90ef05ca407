// SPDX-License-Identifier: Apache-2.0

// Package mcp2221sim emulates a Microchip MCP2221 USB-HID bridge in user
// space, through the Linux /dev/uhid device, so that the stock hid-mcp2221
// driver binds to it and registers a real 4-line GPIO chip ("mcp2221_gpio").
// Tests then drive that chip through the GPIO character device exactly as on
// hardware, and read back on the emulator side what the kernel wrote.
//
// [Chip] is the device model: it answers the driver's 64-byte vendor
// reports (GPIO set 0x50, GPIO get 0x51, I2C status/parameters 0x10, the
// I2C transfer commands of an empty bus, SRAM and flash reads) and records
// every GPIO write in order. It does no I/O and is tested on any host.
// [Start] (Linux only) creates the uhid device and serves a Chip until
// Close.
//
// # GPIO get layout
//
// The datasheet's GPIO get reply carries {value, direction} per pin. Linux
// before 6.4 read it as {direction, value} (fixed by "HID: mcp2221: fix
// report layout for gpio get"), so the reply layout is configurable:
// [LayoutForKernel] picks the one the running kernel expects.
package mcp2221sim
