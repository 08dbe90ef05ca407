// SPDX-License-Identifier: Apache-2.0

package agent

// withFaultAudits adds to acts one audit record for each fault that
// changed from prev to next (docs/audit.md, "Record kinds"): "fault" when
// it was raised or its detail changed, "fault_cleared" (with what it was)
// when it cleared. A record step already wrote for the fault (same reason)
// is given the fault's name instead of a second record. Raising the audit
// fault itself is not written (the trail is what failed); its
// fault_cleared record says what it was once the trail is writable again.
//
// The records go before the status is published and the requests
// answered, after everything step put first (closing the gate when privacy
// goes on comes before any write).
func withFaultAudits(prev, next [numFaults]string, acts []Action) []Action {
	var add []Action
	for f := range numFaults {
		was, is := prev[f], next[f]
		if was == is {
			continue
		}
		name := f.String()
		if is == "" {
			add = append(add, ActAudit{AuditRecord{Kind: KindFaultCleared, Source: SourceAgent, Fault: name, Reason: was}})
			continue
		}
		explicit := false
		for i, act := range acts {
			if a, ok := act.(ActAudit); ok && a.Rec.Fault == "" && a.Rec.Reason == is {
				a.Rec.Fault = name
				acts[i] = a
				explicit = explicit || a.Rec.Kind == KindFault
			}
		}
		if explicit || f == FaultAudit {
			continue
		}
		add = append(add, ActAudit{AuditRecord{Kind: KindFault, Source: SourceAgent, Fault: name, Reason: is}})
	}
	if len(add) == 0 {
		return acts
	}
	at := len(acts)
	for i, act := range acts {
		if tail(act) {
			at = i
			break
		}
	}
	out := make([]Action, 0, len(acts)+len(add))
	out = append(append(append(out, acts[:at]...), add...), acts[at:]...)
	return out
}

// tail reports whether act belongs to the end of a step's actions: the
// status publication, the commit of "privacy off" and the replies.
func tail(act Action) bool {
	switch a := act.(type) {
	case ActPublish, ActReply:
		return true
	case ActPersist:
		return !a.Private
	}
	return false
}
