// SPDX-License-Identifier: Apache-2.0

// Package gpiotest provides stateful fakes of package gpio's LED, Shutter
// and Button for testing the agent without hardware, and a Log that records
// the writes of every fake in one order so tests can check cross-device
// ordering (for example that the LED was lit before capture started).
//
// The fakes are safe for concurrent use. Their exported fields configure
// them and may be set before the fake is shared with the code under test;
// to change behaviour while it runs, use the Set methods. Timed behaviour
// uses the time package only, so it runs on fake time inside a
// testing/synctest bubble.
package gpiotest
