package syslog

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

const reusePortSupported = true

// udpControl sets SO_REUSEPORT (when several sockets share the port) and
// the receive buffer: SO_RCVBUFFORCE where corrd may exceed
// net.core.rmem_max (CAP_NET_ADMIN), else SO_RCVBUF.
func udpControl(reusePort bool, rcvbuf int) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if reusePort {
				if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); serr != nil {
					return
				}
			}
			if rcvbuf > 0 {
				if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf) != nil {
					_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
				}
			}
		})
		if err != nil {
			return err
		}
		return serr
	}
}

// receiveBuffer is the socket's receive buffer as the kernel reports it
// (twice the usable size, for bookkeeping), halved.
func receiveBuffer(c *net.UDPConn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var serr error
	if err := rc.Control(func(fd uintptr) {
		n, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
	}); err != nil {
		return 0, err
	}
	return n / 2, serr
}

// socketInode is the inode /proc/net/udp lists the socket under.
func socketInode(c *net.UDPConn) (uint64, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var st unix.Stat_t
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Fstat(int(fd), &st) }); err != nil {
		return 0, err
	}
	return st.Ino, serr
}
