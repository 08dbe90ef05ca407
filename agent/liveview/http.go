// SPDX-License-Identifier: Apache-2.0

package liveview

import (
	"context"
	"crypto/tls"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/camnode/camnode/agent/liveview/token"
)

//go:embed page
var pageFS embed.FS

// Handler returns the HTTP handler: the viewer page (GET /), WHEP (POST
// /whep, DELETE /whep/{id}) and a minimal state (GET /state). Serve it over
// TLS only.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	page, _ := fs.Sub(pageFS, "page")
	files := http.FileServerFS(page)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { files.ServeHTTP(w, r) })
	mux.HandleFunc("GET /viewer.js", func(w http.ResponseWriter, r *http.Request) { files.ServeHTTP(w, r) })
	mux.HandleFunc("POST /whep", s.handleOffer)
	mux.HandleFunc("DELETE /whep/{id}", s.handleDelete)
	mux.HandleFunc("GET /state", s.handleState)
	return securityHeaders(mux)
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Cache-Control", "no-store")
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; media-src 'self' blob:; frame-ancestors 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}

// remoteHost is the rate-limit key: the client's IP address.
func remoteHost(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}

// handleOffer is WHEP's POST: bearer token, SDP offer in, SDP answer out.
// Checks run cheapest and least revealing first; nothing changes unless
// the session starts (the token is consumed only then).
//
// Rate limiting counts failures only, and never blocks a valid token: the
// token is verified first (Ed25519, cheap), and only a refused one from an
// address that has failed too often recently gets 429 instead of the
// reason. So one mistyped token does not lock out every viewer behind a
// hub's single address. Verifications for throttled addresses share a
// global budget (throttledVerifyRate): beyond it they get 429 unverified,
// which bounds the work a flood can cause.
func (s *Server) handleOffer(w http.ResponseWriter, r *http.Request) {
	remote := remoteHost(r)
	throttled := !s.lim.Allow(remote)
	tooMany := func() {
		w.Header().Set("Retry-After", strconv.Itoa(int(1/s.cfg.FailRate)+1))
		httpError(w, http.StatusTooManyRequests, "too many failed attempts from this address; try later")
	}
	if throttled && !s.glim.Allow(throttledKey) {
		tooMany()
		return
	}
	claims, err := s.authorize(r)
	if err != nil {
		if errors.Is(err, token.ErrStore) {
			s.log.Error("live view: token refused", "remote", remote, "err", err)
			httpError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		s.lim.Fail(remote)
		s.log.Warn("live view: token refused", "remote", remote, "err", err, "throttled", throttled)
		if throttled {
			s.glim.Fail(throttledKey)
			tooMany()
			return
		}
		code := http.StatusUnauthorized
		if errors.Is(err, token.ErrForbidden) {
			code = http.StatusForbidden
		}
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		httpError(w, code, err.Error())
		return
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/sdp" {
		httpError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/sdp")
		return
	}
	if r.ContentLength > MaxOfferSize {
		httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("SDP offer larger than %d bytes", MaxOfferSize))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxOfferSize))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("SDP offer larger than %d bytes", MaxOfferSize))
			return
		}
		httpError(w, http.StatusBadRequest, "reading the offer: "+err.Error())
		return
	}
	sess, answer, err := s.open(r.Context(), string(body), claims, remote)
	if err != nil {
		code, msg := errStatus(err)
		if code == http.StatusUnauthorized {
			s.lim.Fail(remote)
		}
		if code == http.StatusUnauthorized || code == http.StatusServiceUnavailable {
			s.log.Warn("live view: offer refused", "remote", remote, "err", msg)
		}
		httpError(w, code, msg)
		return
	}
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", "/whep/"+sess.id)
	w.Header().Set("X-Session-Expires", sess.claims.ExpiresAt.UTC().Format(time.RFC3339))
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

// authorize verifies the bearer token (without consuming it).
func (s *Server) authorize(r *http.Request) (*token.Claims, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, fmt.Errorf("%w: missing Authorization: Bearer header", token.ErrInvalid)
	}
	scheme, raw, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil, fmt.Errorf("%w: Authorization must be Bearer", token.ErrInvalid)
	}
	return s.verify.Verify(strings.TrimSpace(raw))
}

// handleDelete ends a session. The session URL is an unguessable
// capability (128 random bits), as WHEP intends.
func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	if !s.end(r.PathValue("id"), "viewer hung up") {
		httpError(w, http.StatusNotFound, "no such session")
		return
	}
	w.WriteHeader(http.StatusOK)
}

// handleState tells the page whether it can connect now. It reveals no
// more than the recording LED does.
func (s *Server) handleState(w http.ResponseWriter, r *http.Request) {
	st := struct {
		Live   bool   `json:"live"`
		Reason string `json:"reason,omitempty"`
	}{Live: true}
	s.mu.RLock()
	if err := s.admitLocked(); err != nil {
		var se *statusError
		if errors.As(err, &se) && !strings.HasPrefix(se.msg, "maximum") {
			st.Live, st.Reason = false, se.msg
		}
	}
	s.mu.RUnlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(st)
}

// Serve serves Handler over TLS on ln with cert until ctx is done.
func (s *Server) Serve(ctx context.Context, ln net.Listener, cert tls.Certificate) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}},
		ErrorLog:          nil,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-errc
		return nil
	case err := <-errc:
		return err
	}
}
