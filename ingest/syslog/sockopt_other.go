//go:build !linux

package syslog

import (
	"errors"
	"net"
	"syscall"
)

// Elsewhere one socket reads a UDP listener, with the default buffer.
const reusePortSupported = false

func udpControl(bool, int) func(network, address string, c syscall.RawConn) error { return nil }

func receiveBuffer(*net.UDPConn) (int, error) { return 0, errors.ErrUnsupported }

func socketInode(*net.UDPConn) (uint64, error) { return 0, errors.ErrUnsupported }
