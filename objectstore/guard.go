package objectstore

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// errPrivateAddress is a dial the guard refused.
var errPrivateAddress = errors.New("private address")

// cgnat is shared address space (RFC 6598), private in practice.
var (
	cgnat     = netip.MustParsePrefix("100.64.0.0/10")
	broadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})
)

// publicAddress says whether ip is on the public internet: not loopback,
// private, link-local (cloud metadata services live at 169.254.169.254
// and fd00:ec2::254), unspecified or multicast.
func publicAddress(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsValid() && ip.Zone() == "" && !ip.IsLoopback() && !ip.IsPrivate() && !ip.IsUnspecified() &&
		!ip.IsMulticast() && !ip.IsLinkLocalUnicast() && !ip.IsLinkLocalMulticast() &&
		!ip.IsInterfaceLocalMulticast() && !cgnat.Contains(ip) && ip != broadcast
}

// guardedClient refuses to connect to a non-public address: the check
// runs on the address actually dialled, so a name that resolves (or is
// re-bound) to one is refused too. No proxy: the proxy's address is what
// would be checked.
func guardedClient() *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, Control: func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil || !publicAddress(ap.Addr()) {
			return fmt.Errorf("%w: %s", errPrivateAddress, address)
		}
		return nil
	}}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.DialContext = d.DialContext
	return &http.Client{Transport: tr}
}

var (
	publicOnlyClient = guardedClient()
	anyAddressClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
)

// defaultHTTPClient is the client for a connector: only public addresses
// unless it says allow_private.
func defaultHTTPClient(allowPrivate bool) *http.Client {
	if allowPrivate {
		return anyAddressClient
	}
	return publicOnlyClient
}
