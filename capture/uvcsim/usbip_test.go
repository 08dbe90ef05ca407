// SPDX-License-Identifier: Apache-2.0

package uvcsim

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/camnode/camnode/capture"
)

// fakeVHCI plays the kernel's side of a USB/IP connection.
type fakeVHCI struct {
	t    *testing.T
	conn net.Conn
	seq  uint32
}

func (k *fakeVHCI) submit(ep, dir uint32, length int, setup Setup, out []byte) uint32 {
	k.t.Helper()
	k.seq++
	be := binary.BigEndian
	var b []byte
	for _, v := range []uint32{cmdSubmit, k.seq, 0x10002, dir, ep, 0, uint32(length), 0, 0, 0} {
		b = be.AppendUint32(b, v)
	}
	b = append(b, setup.RequestType, setup.Request)
	b = binary.LittleEndian.AppendUint16(b, setup.Value)
	b = binary.LittleEndian.AppendUint16(b, setup.Index)
	b = binary.LittleEndian.AppendUint16(b, setup.Length)
	b = append(b, out...)
	if _, err := k.conn.Write(b); err != nil {
		k.t.Fatal(err)
	}
	return k.seq
}

func (k *fakeVHCI) unlink(victim uint32) uint32 {
	k.t.Helper()
	k.seq++
	b := make([]byte, headerSize)
	be := binary.BigEndian
	be.PutUint32(b[0:], cmdUnlink)
	be.PutUint32(b[4:], k.seq)
	be.PutUint32(b[20:], victim)
	if _, err := k.conn.Write(b); err != nil {
		k.t.Fatal(err)
	}
	return k.seq
}

type reply struct {
	command, seq uint32
	status       int32
	data         []byte
}

// read reads one reply; IN data follows RET_SUBMIT when in is true.
func (k *fakeVHCI) read(in bool) reply {
	k.t.Helper()
	var h [headerSize]byte
	if _, err := io.ReadFull(k.conn, h[:]); err != nil {
		k.t.Fatal(err)
	}
	be := binary.BigEndian
	r := reply{command: be.Uint32(h[0:]), seq: be.Uint32(h[4:]), status: int32(be.Uint32(h[20:]))}
	if r.command == retSubmit && in {
		r.data = make([]byte, be.Uint32(h[24:]))
		if _, err := io.ReadFull(k.conn, r.data); err != nil {
			k.t.Fatal(err)
		}
	}
	return r
}

func (k *fakeVHCI) control(s Setup, out []byte) reply {
	k.t.Helper()
	dir := uint32(dirOut)
	if s.In() {
		dir = dirIn
	}
	seq := k.submit(0, dir, int(s.Length), s, out)
	r := k.read(s.In())
	if r.command != retSubmit || r.seq != seq {
		k.t.Fatalf("control reply %+v for seq %d", r, seq)
	}
	return r
}

// TestSession: enumeration, negotiation, two MJPEG frames through bulk
// URBs reassembled as uvcvideo does, unlinks and the stop, over an
// in-memory USB/IP connection in a synctest bubble (frame pacing in fake
// time).
func TestSession(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cam := newCam(t)
		jpeg := [][]byte{bytes.Repeat([]byte{0xff, 0xd8, 1, 2, 3}, 5000), bytes.Repeat([]byte{0xff, 0xd8, 4, 5}, 100)}
		kernelEnd, deviceEnd := net.Pipe()
		s := Serve(deviceEnd, cam, &Pictures{JPEG: map[Size][][]byte{{640, 480}: jpeg}}, nil, nil)
		defer s.Close()
		k := &fakeVHCI{t: t, conn: kernelEnd}

		if r := k.control(Setup{0x80, reqGetDescriptor, dtDevice << 8, 0, 64}, nil); r.status != 0 || !bytes.Equal(r.data, cam.DeviceDescriptor()) {
			t.Fatalf("device descriptor: %+v", r)
		}
		if r := k.control(Setup{0xc0, 1, 0, 0, 4}, nil); r.status != -errnoPIPE || len(r.data) != 0 {
			t.Fatalf("vendor request: %+v, want a stall", r)
		}
		if r := k.control(Setup{0x00, reqSetConfig, 1, 0, 0}, nil); r.status != 0 {
			t.Fatalf("set configuration: %+v", r)
		}
		p := probeData(1, 1, 333333)
		for _, sel := range []byte{vsProbe, vsCommit} {
			if r := k.control(setCur(sel, p), p); r.status != 0 {
				t.Fatalf("SET_CUR %d: %+v", sel, r)
			}
		}

		h := &hostBulk{maxPayload: 16384, urbLen: 16384}
		start := time.Now()
		for len(h.frames) < 2 {
			seq := k.submit(1, dirIn, 16384, Setup{}, nil)
			r := k.read(true)
			if r.command != retSubmit || r.seq != seq || r.status != 0 {
				t.Fatalf("bulk reply %+v for %d", r, seq)
			}
			h.transfer(t, r.data)
		}
		for i, f := range h.frames {
			if !bytes.Equal(f, jpeg[i]) {
				t.Errorf("frame %d: %d bytes, want JPEG %d (%d bytes)", i, len(f), i, len(jpeg[i]))
			}
		}
		// Paced at 30 fps in fake time: the second frame waited its turn.
		if d := time.Since(start); d < 33*time.Millisecond {
			t.Errorf("two frames within %v at 30 fps", d)
		}

		// Streaming stopped (uvcvideo: CLEAR_FEATURE(HALT)): a queued URB
		// is not answered; its unlink is, with ECONNRESET. An unlink of a
		// URB already answered gets status 0.
		if r := k.control(Setup{0x02, reqClearFeature, 0, EndpointIn, 0}, nil); r.status != 0 {
			t.Fatalf("clear halt: %+v", r)
		}
		queued := k.submit(1, dirIn, 16384, Setup{}, nil)
		synctest.Wait()
		u := k.unlink(queued)
		if r := k.read(false); r.command != retUnlink || r.seq != u || r.status != -errnoCONNRESET {
			t.Errorf("unlink of a queued URB: %+v", r)
		}
		u = k.unlink(2)
		if r := k.read(false); r.command != retUnlink || r.seq != u || r.status != 0 {
			t.Errorf("unlink of an answered URB: %+v", r)
		}
		// vhci can send an unlink ahead of its URB's submit: the submit is
		// then answered by the unlink's ECONNRESET alone, never by a
		// RET_SUBMIT (vhci drops the connection on one for a URB it gave back).
		k.seq++ // the URB's seqnum, taken before the unlink's
		target := k.seq
		u = k.unlink(target)
		synctest.Wait()
		k.seq = target - 1
		k.submit(1, dirIn, 16384, Setup{}, nil)
		k.seq = u
		if r := k.read(false); r.command != retUnlink || r.seq != u || r.status != -errnoCONNRESET {
			t.Errorf("unlink ahead of its submit: %+v", r)
		}
		if r := k.control(Setup{0x80, reqGetStatus, 0, 0, 2}, nil); r.status != 0 { // and nothing else came
			t.Errorf("get status: %+v", r)
		}
		if st := s.Stats(); st.Frames != 2 || st.Stalls != 1 || st.Unlinks != 3 {
			t.Errorf("stats %+v", st)
		}
		kernelEnd.Close()
		<-s.Done()
		if err := s.Err(); err != nil {
			t.Errorf("session ended with %v after a hang-up", err)
		}
	})
}

// TestSessionYUYV: a raw frame through the session carries the stamp
// painted with its frame number.
func TestSessionYUYV(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cam := newCam(t)
		t0 := time.Now()
		kernelEnd, deviceEnd := net.Pipe()
		s := Serve(deviceEnd, cam, &Pictures{}, nil, nil)
		defer s.Close()
		k := &fakeVHCI{t: t, conn: kernelEnd}
		p := probeData(2, 1, 333333)
		k.control(setCur(vsCommit, p), p)
		h := &hostBulk{maxPayload: 16384, urbLen: 16384}
		for len(h.frames) < 1 {
			k.submit(1, dirIn, 16384, Setup{}, nil)
			h.transfer(t, k.read(true).data)
		}
		f := capture.Frame{Data: h.frames[0], Format: capture.Format{Width: 640, Height: 480, Pixel: capture.YUYV}}
		if n, at, ok := capture.ReadFrameStamp(&f); !ok || n != 0 || !at.Equal(t0) {
			t.Errorf("stamp %d %v %v", n, at, ok)
		}
		kernelEnd.Close()
	})
}

// TestSessionProtocolErrors: garbage from the kernel side ends the session
// with an error, never a panic or a hang.
func TestSessionProtocolErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"unknown command", append(binary.BigEndian.AppendUint32(nil, 9), make([]byte, 44)...)},
		{"huge transfer", func() []byte {
			b := make([]byte, headerSize)
			binary.BigEndian.PutUint32(b[0:], cmdSubmit)
			binary.BigEndian.PutUint32(b[24:], 1<<30)
			return b
		}()},
		{"iso packets on a bulk camera", func() []byte {
			b := make([]byte, headerSize)
			binary.BigEndian.PutUint32(b[0:], cmdSubmit)
			binary.BigEndian.PutUint32(b[16:], 1)
			binary.BigEndian.PutUint32(b[32:], 8)
			return b
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				kernelEnd, deviceEnd := net.Pipe()
				s := Serve(deviceEnd, newCam(t), &Pictures{}, nil, nil)
				defer s.Close()
				go kernelEnd.Write(tc.b)
				<-s.Done()
				if s.Err() == nil {
					t.Error("no error")
				}
				kernelEnd.Close()
			})
		})
	}
}
