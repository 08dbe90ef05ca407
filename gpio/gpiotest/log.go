// SPDX-License-Identifier: Apache-2.0

package gpiotest

import (
	"sync"
	"time"
)

// Entry is one recorded write.
type Entry struct {
	// Seq is the entry's position in its Log, starting at 1.
	Seq uint64
	// Time is when it was recorded, from time.Now.
	Time time.Time
	// Device names the writer, for example "led" or "shutter".
	Device string
	// Value is what was written, for example "on" or "open".
	Value string
}

// Log is a shared, ordered, timestamped record of device writes. The zero
// value is ready to use, and it is safe for concurrent use. Adding to a nil
// *Log does nothing, so fakes work without one.
type Log struct {
	mu      sync.Mutex
	entries []Entry
}

// Add records that device wrote value, timestamped with time.Now (fake
// time inside a synctest bubble).
func (l *Log) Add(device, value string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, Entry{
		Seq:    uint64(len(l.entries)) + 1,
		Time:   time.Now(),
		Device: device,
		Value:  value,
	})
}

// Entries returns a copy of the entries in the order they were added.
func (l *Log) Entries() []Entry {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Entry(nil), l.entries...)
}

// Find returns the first entry recorded for device with value, and whether
// there is one. Compare the Seq of two entries to check their order.
func (l *Log) Find(device, value string) (Entry, bool) {
	for _, e := range l.Entries() {
		if e.Device == device && e.Value == value {
			return e, true
		}
	}
	return Entry{}, false
}
