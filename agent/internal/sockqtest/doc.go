// SPDX-License-Identifier: Apache-2.0

// Package sockqtest lets tests look into the kernel's side of a TCP
// connection (Linux only): how many bytes wait unsent in a socket's send
// queue (SIOCOUTQ), how many wait unread in its receive queue (SIOCINQ),
// and whether the connection is still established. Tests of invariant 2
// use it to prove that a privacy cut discards, rather than flushes, what
// the kernel still holds. It is for tests only.
package sockqtest
