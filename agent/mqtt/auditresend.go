// SPDX-License-Identifier: Apache-2.0

package mqtt

import "github.com/camnode/camnode/agent"

// Backfill queues the chain records of the node's trail (state directory
// dir) that never reached the outbox: every record is written to the
// chain first and to the outbox second, so a crash (or an outbox write
// that failed) between the two leaves records the hub would never see,
// and its witnessed head would stop before them for good. Called at start,
// before the link runs; it returns how many records it queued. Records
// the hub already has are harmless to send again (it drops duplicates by
// id and by seq).
func (o *Outbox) Backfill(dir string) (int, error) {
	o.mu.Lock()
	from := o.high
	if w := o.witnessed; w != nil {
		// The hub has everything up to its witnessed head (an outbox
		// from before the high mark was kept starts there).
		from = max(from, w.Seq)
	}
	from++
	o.mu.Unlock()
	n := 0
	err := agent.ReadAuditFrom(dir, from, func(r agent.AuditRecord) error {
		if err := o.Append(r); err != nil {
			return err
		}
		n++
		return nil
	})
	return n, err
}

// HighSeq returns the highest chain seq ever queued in the outbox.
func (o *Outbox) HighSeq() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.high
}
