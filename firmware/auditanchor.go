// SPDX-License-Identifier: Apache-2.0

package firmware

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// IdentityAnchor returns what the first record of a node's audit chain
// chains to: the hex SHA-256 of the identity's signed payload bytes (the
// bytes the installer's signature covers, not the envelope, whose layout
// may change without changing what was signed). It only decodes the
// envelope; VerifyIdentity checks the signature.
func IdentityAnchor(data []byte) (string, error) {
	if len(data) > MaxIdentitySize {
		return "", fmt.Errorf("identity: file larger than %d bytes", MaxIdentitySize)
	}
	var env envelope
	if err := DecodeJSON(data, &env); err != nil {
		return "", fmt.Errorf("identity: %w", err)
	}
	sum := sha256.Sum256(env.Payload)
	return hex.EncodeToString(sum[:]), nil
}
