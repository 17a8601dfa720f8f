package tool

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// ErrForbiddenAddress is why a guarded dial was refused: the address is
// loopback, private, link-local (cloud metadata included) or otherwise not
// on the public internet.
var ErrForbiddenAddress = errors.New("destination address not allowed")

// blockedPrefixes are the ranges not reachable from the public internet (or
// embedding an IPv4 address that may not be) beyond what netip's
// predicates already cover (loopback, RFC 1918 and fc00::/7, link-local
// 169.254/16 and fe80::/10, multicast, unspecified).
var blockedPrefixes = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",       // "this network"
		"100.64.0.0/10",   // carrier-grade NAT
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // documentation
		"192.88.99.0/24",  // 6to4 relay anycast
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // documentation
		"203.0.113.0/24",  // documentation
		"240.0.0.0/4",     // reserved, and the broadcast 255.255.255.255
		"::/96",           // IPv4-compatible (::a.b.c.d), ::1, ::
		"::ffff:0:0/96",   // IPv4-mapped (Unmap handles these first)
		"64:ff9b::/96",    // NAT64: embeds an IPv4 address
		"64:ff9b:1::/48",  // local-use NAT64
		"100::/64",        // discard
		"2001::/23",       // IETF protocol assignments, Teredo (embeds IPv4)
		"2001:db8::/32",   // documentation
		"2002::/16",       // 6to4: embeds an IPv4 address
		"fc00::/7",        // unique local, fd00:ec2::254 (EC2 metadata) among them
		"fe80::/10",       // link-local
		"fec0::/10",       // site-local (deprecated)
		"ff00::/8",        // multicast
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// PublicAddress reports whether ip is an address on the public internet,
// which a tool acting for a model may reach.
func PublicAddress(ip netip.Addr) bool {
	ip = ip.Unmap() // ::ffff:127.0.0.1 is 127.0.0.1
	if !ip.IsValid() || ip.Zone() != "" {
		return false
	}
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified() || ip.IsMulticast() ||
		ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() {
		return false
	}
	for _, p := range blockedPrefixes {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// guardedDialer dials only public addresses. The check runs in Control, on
// the address actually dialled after name resolution, for every dial
// (happy-eyeballs fallbacks, redirects and re-dials included): a name that
// resolves to a public address when checked and to 127.0.0.1 when dialled
// (DNS rebinding) has no window to slip through. allow, when set, admits
// an address the guard would refuse (a connector's own private host; a
// test's server).
func guardedDialer(timeout time.Duration, allow func(netip.AddrPort) bool) *net.Dialer {
	return &net.Dialer{Timeout: timeout, Control: func(network, address string, _ syscall.RawConn) error {
		if network != "tcp4" && network != "tcp6" {
			return fmt.Errorf("%w: network %s", ErrForbiddenAddress, network)
		}
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w: %s", ErrForbiddenAddress, address)
		}
		if allow != nil && allow(ap) {
			return nil
		}
		if !PublicAddress(ap.Addr()) {
			return fmt.Errorf("%w: %s", ErrForbiddenAddress, address)
		}
		return nil
	}}
}

// dialFunc is what an http.Transport dials with.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)
