// SPDX-License-Identifier: Apache-2.0

package recorder

import (
	"fmt"
	"strings"
	"testing"

	"github.com/bluenviron/gortsplib/v4/pkg/base"
)

const (
	credNonce = "0123456789abcdef0123456789abcdef"
	credURL   = "rtsp://127.0.0.1:8554/stream"
)

// digestFor is the Authorization value a client with pass would send.
func digestFor(user, pass, method, uri string) string {
	ha1 := md5hex(user + ":" + Realm + ":" + pass)
	return fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s"`,
		user, Realm, credNonce, uri, md5hex(ha1+":"+credNonce+":"+md5hex(method+":"+uri)))
}

// credCases feed TestCredentials and the seeds of FuzzCredentials.
var credCases = []struct {
	name, method, url, auth string
	ok                      bool
	why                     string // substring of the refusal
}{
	{"digest", "DESCRIBE", credURL, digestFor("vms", vmsPassword, "DESCRIBE", credURL), true, ""},
	{"digest, track URL in SETUP", "SETUP", credURL + "/trackID=0", digestFor("vms", vmsPassword, "SETUP", credURL+"/trackID=0"), true, ""},
	{"digest, base URL in SETUP", "SETUP", credURL + "/trackID=0", digestFor("vms", vmsPassword, "SETUP", credURL), true, ""},
	{"wrong password", "DESCRIBE", credURL, digestFor("vms", "guess", "DESCRIBE", credURL), false, "wrong user name or password"},
	{"unknown name", "DESCRIBE", credURL, digestFor("eve", vmsPassword, "DESCRIBE", credURL), false, "wrong user name or password"},
	{"response for another method", "PLAY", credURL, digestFor("vms", vmsPassword, "DESCRIBE", credURL), false, "wrong user name or password"},
	{"uri of another stream", "DESCRIBE", credURL, digestFor("vms", vmsPassword, "DESCRIBE", "rtsp://127.0.0.1:8554/other"), false, "uri does not match"},
	{"empty uri", "DESCRIBE", credURL, digestFor("vms", vmsPassword, "DESCRIBE", ""), false, "uri does not match"},
	{"stale nonce", "DESCRIBE", credURL, strings.Replace(digestFor("vms", vmsPassword, "DESCRIBE", credURL), credNonce, "ffff", 1), false, "nonce"},
	{"other realm", "DESCRIBE", credURL, strings.Replace(digestFor("vms", vmsPassword, "DESCRIBE", credURL), `realm="camnode"`, `realm="x"`, 1), false, "nonce"},
	{"sha-256", "DESCRIBE", credURL, digestFor("vms", vmsPassword, "DESCRIBE", credURL) + `, algorithm="SHA-256"`, false, "use MD5"},
	{"basic over plain RTSP", "DESCRIBE", credURL, "Basic dm1zOnNlY3JldA==", false, "Basic authentication is refused over plain RTSP"},
	{"malformed", "DESCRIBE", credURL, "Digest", false, "malformed"},
	{"garbage", "DESCRIBE", credURL, "\x00\xff", false, ""},
	{"no credentials", "DESCRIBE", credURL, "", false, ""},
}

func credServer() *Server {
	return &Server{byDigest: map[string]string{"vms": md5hex("vms:" + Realm + ":" + vmsPassword)}, byCert: map[string]string{}}
}

func credRequest(method, url, auth string) (*base.Request, bool) {
	u, err := base.ParseURL(url)
	if err != nil {
		return nil, false
	}
	req := &base.Request{Method: base.Method(method), URL: u, Header: base.Header{}}
	if auth != "" {
		req.Header["Authorization"] = base.HeaderValue{auth}
	}
	return req, true
}

// TestCredentials: Digest against the stored HA1, and every way it can be
// wrong.
func TestCredentials(t *testing.T) {
	s := credServer()
	for _, tc := range credCases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := credRequest(tc.method, tc.url, tc.auth)
			name, why := s.credentials(&connState{nonce: credNonce}, req)
			if (name == "vms") != tc.ok || (tc.ok && why != "") || (!tc.ok && !strings.Contains(why, tc.why)) {
				t.Fatalf("credentials = %q, %q; want ok %v, why containing %q", name, why, tc.ok, tc.why)
			}
			if tc.auth != "" && !tc.ok && why == "" {
				t.Fatal("credentials offered and refused without a reason (would not count as a failure)")
			}
		})
	}
}

// FuzzCredentials: any method, URL and Authorization value is answered
// without panicking, and only a correct Digest response authenticates.
func FuzzCredentials(f *testing.F) {
	for _, tc := range credCases {
		f.Add(tc.method, tc.url, tc.auth)
	}
	s := credServer()
	f.Fuzz(func(t *testing.T, method, url, auth string) {
		req, ok := credRequest(method, url, auth)
		if !ok {
			return
		}
		name, why := s.credentials(&connState{nonce: credNonce}, req)
		if name == "" {
			return
		}
		if name != "vms" || why != "" {
			t.Fatalf("credentials = %q, %q", name, why)
		}
		// Only the right answer for this method and a URI of this request.
		var found bool
		for _, uri := range []string{req.URL.String(), strings.TrimSuffix(req.URL.String(), "/")} {
			for u := uri; u != ""; u = u[:len(u)-1] {
				if strings.Contains(auth, md5hex(md5hex("vms:"+Realm+":"+vmsPassword)+":"+credNonce+":"+md5hex(method+":"+u))) {
					found = true
					break
				}
			}
			if found {
				break
			}
		}
		if !found {
			t.Fatalf("authenticated without the right Digest response: %q %q %q", method, url, auth)
		}
	})
}
