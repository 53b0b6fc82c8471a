//go:build linux

package chaos

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// The kernel's process event connector (linux/connector.h, linux/cn_proc.h); x/sys/unix has
// only NETLINK_CONNECTOR.
const (
	cnIdxProc         = 1 // CN_IDX_PROC, also the multicast group to join
	cnValProc         = 1 // CN_VAL_PROC
	procCNMcastListen = 1 // PROC_CN_MCAST_LISTEN
)

// procEventsBuffer is the receive buffer asked for. The kernel queues every event of the
// machine (threads included) while the reader is descheduled; at roughly 1 KiB of accounting
// per queued event, 64 MiB holds tens of thousands of them, many seconds of a busy build.
const procEventsBuffer = 64 << 20

// procEventsAckTimeout bounds the wait for the kernel's answer to the subscription. The
// kernel answers from within the send itself, so the answer is queued when the send returns;
// the bound only matters when no answer ever comes (no CONFIG_PROC_EVENTS, or a pid
// namespace other than the initial one, where the kernel ignores the request).
const procEventsAckTimeout = 2 * time.Second

// procEventsPoll is how long one read blocks, so that a stop is noticed.
const procEventsPoll = 50 * time.Millisecond

// procConn is a subscription to the kernel's process events.
type procConn struct {
	fd int
}

// openProcEvents subscribes to the kernel's process events. An error means they are not
// available here (not root, no connector, another pid namespace) and says why.
func openProcEvents() (*procConn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_CONNECTOR)
	if err != nil {
		return nil, fmt.Errorf("netlink connector socket: %w", err)
	}
	c := &procConn{fd: fd}
	// SO_RCVBUFFORCE passes the system's rmem_max (root only); else take what is allowed.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, procEventsBuffer); err != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, procEventsBuffer)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: cnIdxProc}); err != nil {
		c.Close()
		return nil, fmt.Errorf("join the process events group: %w", err)
	}
	msg := make([]byte, nlmsgHdrLen+cnMsgLen+4)
	le.PutUint32(msg[0:], uint32(len(msg)))
	le.PutUint16(msg[4:], unix.NLMSG_DONE)
	le.PutUint32(msg[12:], uint32(os.Getpid()))
	le.PutUint32(msg[16:], cnIdxProc)
	le.PutUint32(msg[20:], cnValProc)
	le.PutUint16(msg[32:], 4)
	le.PutUint32(msg[36:], procCNMcastListen)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		c.Close()
		return nil, fmt.Errorf("subscribe to process events: %w", err)
	}
	if err := c.awaitAck(); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.setTimeout(procEventsPoll); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *procConn) setTimeout(d time.Duration) error {
	tv := unix.NsecToTimeval(d.Nanoseconds())
	if err := unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fmt.Errorf("process events socket timeout: %w", err)
	}
	return nil
}

// awaitAck reads until the kernel's answer to the subscription; events that come first are
// dropped (nothing is being watched yet).
func (c *procConn) awaitAck() error {
	if err := c.setTimeout(procEventsAckTimeout); err != nil {
		return err
	}
	buf := make([]byte, 1<<16)
	deadline := time.Now().Add(procEventsAckTimeout)
	for time.Now().Before(deadline) {
		n, err := c.recv(buf)
		if errors.Is(err, errProcIdle) {
			break
		}
		if errors.Is(err, errProcLost) {
			continue
		}
		if err != nil {
			return fmt.Errorf("await the process events subscription: %w", err)
		}
		evs, err := parseProcEvents(buf[:n])
		if err != nil {
			return fmt.Errorf("await the process events subscription: %w", err)
		}
		for _, ev := range evs {
			if ev.Kind == procAck {
				if ev.Err != 0 {
					return fmt.Errorf("the kernel refused the process events subscription: %w", unix.Errno(ev.Err))
				}
				return nil
			}
		}
	}
	return fmt.Errorf("no answer to the process events subscription within %s (no CONFIG_PROC_EVENTS, or not the initial pid namespace)", procEventsAckTimeout)
}

// recv reads one datagram, retrying on EINTR: errProcIdle when the poll period passed with
// nothing queued, errProcLost when the kernel dropped events because the buffer was full.
func (c *procConn) recv(buf []byte) (int, error) {
	for {
		n, _, err := unix.Recvfrom(c.fd, buf, 0)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return 0, errProcIdle
		case errors.Is(err, unix.ENOBUFS):
			return 0, errProcLost
		case err != nil:
			return 0, fmt.Errorf("read process events: %w", err)
		}
		return n, nil
	}
}

// Close ends the subscription.
func (c *procConn) Close() error { return unix.Close(c.fd) }

// monotonicNow reads the clock the kernel stamps process events with (ktime_get_ns), which is
// also the one Go's monotonic time readings use.
func monotonicNow() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, fmt.Errorf("clock_gettime(CLOCK_MONOTONIC): %w", err)
	}
	return time.Duration(ts.Nano()), nil
}

// bootOffset is CLOCK_BOOTTIME minus CLOCK_MONOTONIC (the time the machine was suspended):
// /proc/<pid>/stat's start time counts from boot including it, process events do not.
func bootOffset() (time.Duration, error) {
	var b, m unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &b); err != nil {
		return 0, fmt.Errorf("clock_gettime(CLOCK_BOOTTIME): %w", err)
	}
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &m); err != nil {
		return 0, fmt.Errorf("clock_gettime(CLOCK_MONOTONIC): %w", err)
	}
	return time.Duration(b.Nano() - m.Nano()), nil
}
