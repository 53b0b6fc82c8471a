//go:build !linux

package chaos

import (
	"errors"
	"time"
)

// procConn is a subscription to the kernel's process events, which only Linux has.
type procConn struct{}

func openProcEvents() (*procConn, error) {
	return nil, errors.New("process events need Linux's process event connector")
}

func (c *procConn) recv([]byte) (int, error) { return 0, errors.New("no process events") }

// Close ends the subscription.
func (c *procConn) Close() error { return nil }

func monotonicNow() (time.Duration, error) { return 0, errors.New("no process events") }

func bootOffset() (time.Duration, error) { return 0, errors.New("no process events") }
