// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"strings"
	"unicode"

	"github.com/camnode/camnode/firmware"
)

// The zone rule is compiled in on purpose: no flag, config key, environment
// variable or command can change it. A node provisioned into a room where
// patients are examined, treated or counselled never opens its camera.

// forbiddenZones are the room classes a camera may never see.
var forbiddenZones = map[string]bool{
	"clinical":    true,
	"consulting":  true,
	"therapy":     true,
	"treatment":   true,
	"examination": true,
	"procedure":   true,
	"recovery":    true,
	"toilet":      true,
	"changing":    true,
}

// allowedZones are the only classes in which the camera may run. Anything
// not listed here is unknown, and unknown is forbidden.
var allowedZones = map[string]bool{
	"entrance":  true,
	"exterior":  true,
	"car-park":  true,
	"reception": true,
	"waiting":   true,
	"corridor":  true,
	"stairwell": true,
	"office":    true,
	"storage":   true,
	"plant":     true,
}

// forbiddenWords in a room label contradict any allowed class: a room
// labelled "Consulting Room 3" is refused even if its class says "office".
var forbiddenWords = []string{"clinical", "consulting", "consultation", "therapy", "treatment", "examination", "exam"}

// ZoneVerdict decides whether the node's camera may ever run. id is the
// verified identity, verifyErr the error from reading or verifying it. It
// fails closed: anything but a verified identity in an allowed zone is a
// refusal with a reason.
func ZoneVerdict(id firmware.Identity, verifyErr error) (ok bool, reason string) {
	if verifyErr != nil {
		return false, "zone not verified: " + verifyErr.Error()
	}
	class := strings.ToLower(strings.TrimSpace(id.ZoneClass))
	switch {
	case class == "":
		return false, "zone not verified: no zone class"
	case forbiddenZones[class]:
		return false, reasonClinical + " (" + class + ")"
	case !allowedZones[class]:
		return false, "unknown zone class " + quote(class)
	}
	for _, w := range labelWords(id.Room) {
		for _, f := range forbiddenWords {
			if w == f {
				return false, reasonClinical + " (room " + quote(id.Room) + ")"
			}
		}
	}
	return true, ""
}

func labelWords(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r)
	})
}

func quote(s string) string { return "\"" + s + "\"" }
