// SPDX-License-Identifier: Apache-2.0

package firmware

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// ErrNotRegular is returned by ReadFile for a path that is a device, FIFO,
// socket or directory (directly or through a symbolic link).
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is returned by ReadFile for a file over its size cap.
var ErrTooLarge = errors.New("file too large")

// Size caps for the files a node reads. Each is far above what camnode
// writes and far below what could hurt a Pi.
const (
	MaxStateFileSize  = 64 << 10 // privacy.json, used token ids, command ids
	MaxKeyFileSize    = 64 << 10 // installer keys, PEM keys
	MaxConfigFileSize = 1 << 20  // camnode.toml
	MaxCertFileSize   = 1 << 20  // PEM certificates and CA bundles
)

// ReadFile reads a whole regular file of at most max bytes. It is the one
// reader for every file the node reads (state, identity, keys, config,
// certificates, audit and outbox): a path that leads to a device, FIFO or
// socket is refused before it is opened (so /dev/zero cannot exhaust
// memory, a FIFO cannot hang boot or shutdown, and no device is opened as
// a side effect), and a file over max is refused rather than read.
// Errors wrap fs.ErrNotExist, ErrNotRegular and ErrTooLarge for errors.Is,
// and name the path.
func ReadFile(path string, max int64) ([]byte, error) {
	f, err := OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%s: %w (%d bytes, at most %d)", path, ErrTooLarge, fi.Size(), max)
	}
	// The size can change under us: read at most max+1 bytes and check.
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s: %w (more than %d bytes)", path, ErrTooLarge, max)
	}
	return data, nil
}

// OpenRegular opens path for reading only if it is a regular file: it
// checks before opening (nothing else is ever opened), opens without
// blocking (a FIFO swapped in between cannot hang) and checks the open file
// again. The caller bounds what it reads.
func OpenRegular(path string) (*os.File, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err // *fs.PathError names the path
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, modeName(fi.Mode()))
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	fi2, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if !fi2.Mode().IsRegular() || !os.SameFile(fi, fi2) {
		f.Close()
		return nil, fmt.Errorf("%s: %w (changed while opening)", path, ErrNotRegular)
	}
	return f, nil
}

func modeName(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	default:
		return m.Type().String()
	}
}
